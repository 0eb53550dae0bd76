//go:build vmtest

package addr_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

// TestNodeAddresses checks the node's addresses come from every link but
// the dummy, without loopback and link-local ones, filtered by
// --nodeport-addresses.
func TestNodeAddresses(t *testing.T) {
	n := netnstest.New(t)
	if err := n.NL.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "node0"}}); err != nil {
		t.Fatal(err)
	}
	n.AddAddr(t, "node0", "198.18.50.2/24")
	n.AddAddr(t, "node0", "198.18.51.2/24")
	n.AddAddr(t, "node0", "fd00:50::2/64")
	n.SetUp(t, "node0") // brings a fe80:: address, which must not show
	a := adapter(t, n, func(c *addr.Config) {
		c.PrimaryIPs = []netip.Addr{ip("198.18.50.2"), ip("fd00:50::2")}
	})
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []netip.Addr{ip("198.18.50.10"), ip("fd00:50::10")} {
		if err := a.Bind(x); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		values []string
		want   []netip.Addr
	}{
		{"default is all", nil, []netip.Addr{ip("198.18.50.2"), ip("198.18.51.2"), ip("fd00:50::2")}},
		{"primary", []string{"primary"}, []netip.Addr{ip("198.18.50.2"), ip("fd00:50::2")}},
		{"IPv4 CIDR, IPv6 unrestricted", []string{"198.18.51.0/24"}, []netip.Addr{ip("198.18.51.2"), ip("fd00:50::2")}},
		{"a CIDR covering the service addresses", []string{"198.18.50.0/24", "fd00:50::/64"},
			[]netip.Addr{ip("198.18.50.2"), ip("fd00:50::2")}},
		{"localhost", []string{"localhost"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.NodeAddresses(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tc.want) {
				t.Errorf("NodeAddresses(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
	if _, err := a.NodeAddresses([]string{"not-a-cidr"}); err == nil {
		t.Error("NodeAddresses(not-a-cidr) returned no error")
	}
}
