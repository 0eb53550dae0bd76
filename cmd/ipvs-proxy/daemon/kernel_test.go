package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// nodeSysctls is a node's kernel parameters before any proxy ran: every one
// the table may ask for exists, none has the required value.
func nodeSysctls() *sysctl.Fake {
	return sysctl.NewFake(map[string]string{
		sysctl.OSReleaseName:                    "6.1.0-test",
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.expire_nodest_conn":        "0",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net.ipv4.ip_forward":                   "0",
		"net.ipv6.conf.all.forwarding":          "0",
		"net.ipv4.conf.all.arp_ignore":          "0",
		"net.ipv4.conf.all.arp_announce":        "0",
	})
}

// TestInitIPv6Forwarding: --init-only (and the daemon's start, which runs
// the same prepareKernel before any Node is read) sets IPv6 forwarding when
// the configuration says the node proxies IPv6, and leaves it alone
// otherwise.
func TestInitIPv6Forwarding(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "IPv4 only: left for the Node", cfg: Config{}, want: "0"},
		{name: "IPv6 from the configuration", cfg: Config{IPv6: true}, want: "1"},
		{name: "IPv6 but dry run", cfg: Config{IPv6: true, DryRun: true}, want: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := nodeSysctls()
			a := Adapters{IPVS: ipvs.NewFake(), Addresses: addr.NewFake(addr.Config{}), Netfilter: netfilter.NewFake(),
				Conntrack: conntrack.NewFake(), Sysctl: s}
			if err := Init(context.Background(), tc.cfg, a); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Get("net.ipv6.conf.all.forwarding"); got != tc.want {
				t.Errorf("net.ipv6.conf.all.forwarding = %s, want %s", got, tc.want)
			}
			ipv4 := "1"
			if tc.cfg.DryRun {
				ipv4 = "0"
			}
			if got, _ := s.Get("net.ipv4.ip_forward"); got != ipv4 {
				t.Errorf("net.ipv4.ip_forward = %s, want %s:\n%s", got, ipv4, s.Dump())
			}
			if strings.Contains(s.Dump(), "arp_ignore = 1") {
				t.Errorf("strict ARP set without StrictARP:\n%s", s.Dump())
			}
		})
	}
}
