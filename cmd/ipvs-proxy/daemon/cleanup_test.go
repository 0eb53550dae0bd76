package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

func TestCleanupRemovesOnlyOurs(t *testing.T) {
	vsOf := func(s string, port uint16) *model.Service {
		return &model.Service{VirtualServer: model.VirtualServer{VSKey: model.VSKey{Addr: netip.MustParseAddr(s), Port: port, Proto: model.TCP}, Scheduler: "rr"}}
	}
	v := ipvs.NewFake()
	v.Seed(vsOf("198.18.0.10", 80), vsOf("198.18.1.1", 30080), vsOf("198.18.1.1", 22), vsOf("198.18.50.1", 80), vsOf("198.18.200.1", 80))
	a := addr.NewFake(addr.Config{})
	a.SeedInterface(netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.200.1"))
	a.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	nf := netfilter.NewFake()
	if err := nf.Apply(&model.Netfilter{MasqueradeAll: true}); err != nil {
		t.Fatal(err)
	}
	owner := reconcile.Owner{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.200.0/24")}}
	err := Cleanup(context.Background(), Adapters{IPVS: v, Addresses: a, Netfilter: nf, Conntrack: conntrack.NewFake()}, owner, true)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Dump()
	for _, keep := range []string{"198.18.1.1:22", "198.18.50.1:80", "198.18.200.1:80"} {
		if !strings.Contains(got, keep) {
			t.Errorf("removed foreign or excluded %s", keep)
		}
	}
	for _, gone := range []string{"198.18.0.10:80", "198.18.1.1:30080"} {
		if strings.Contains(got, gone) {
			t.Errorf("kept our %s", gone)
		}
	}
	if _, err := a.List(); err == nil {
		t.Error("dummy interface still exists")
	}
	if strings.TrimSpace(nf.Dump()) != "" {
		t.Errorf("netfilter tables left: %q", nf.Dump())
	}
}
