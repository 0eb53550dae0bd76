//go:build vmtest

package conntrack_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestRealFlows makes real DNATed UDP flows, then deletes those of one
// endpoint and of one service, and checks exactly those entries are gone
// and that traffic still flows afterwards (a new entry is made).
func TestRealFlows(t *testing.T) {
	families := []struct {
		name                        string
		client, vip1, vip2, backend string
	}{
		{"ipv4", "198.18.20.1", "198.18.21.10", "198.18.21.11", "198.18.20.2"},
		{"ipv6", "fd00:20::1", "fd00:21::10", "fd00:21::11", "fd00:20::2"},
	}
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			n := netnstest.New(t)
			client, vip1, vip2 := netip.MustParseAddr(fam.client), netip.MustParseAddr(fam.vip1), netip.MustParseAddr(fam.vip2)
			backend := netip.MustParseAddr(fam.backend)
			n.AddLoopback(t, client, vip1, vip2, backend)
			ep1, ep2 := netip.AddrPortFrom(backend, 5353), netip.AddrPortFrom(backend, 5354)
			dnat(t, n, vip1, 53, ep1)
			dnat(t, n, vip2, 53, ep2)
			echo(t, n, ep1)
			echo(t, n, ep2)
			svc1, svc2 := netip.AddrPortFrom(vip1, 53), netip.AddrPortFrom(vip2, 53)
			c1, c2, c3 := netip.AddrPortFrom(client, 40001), netip.AddrPortFrom(client, 40002), netip.AddrPortFrom(client, 40003)
			roundTrip(t, n, c1, svc1)
			roundTrip(t, n, c2, svc1)
			roundTrip(t, n, c3, svc2)

			ct := adapter(t, n)
			entry := func(c, svc, ep netip.AddrPort) string {
				return conntrack.Entry{Proto: model.UDP, Orig: conntrack.Tuple{Src: c, Dst: svc},
					Reply: conntrack.Tuple{Src: ep, Dst: c}}.String()
			}
			got := udpEntries(t, ct)
			for _, want := range []string{entry(c1, svc1, ep1), entry(c2, svc1, ep1), entry(c3, svc2, ep2)} {
				if !got[want] {
					t.Fatalf("missing entry %s; have %v", want, got)
				}
			}

			// Endpoint ep1 of service 1 removed: its two flows go.
			deleted, err := ct.Clear(conntrack.ForEndpoint(model.UDP, vip1, 53, ep1))
			if err != nil || deleted != 2 {
				t.Fatalf("Clear(endpoint) = %d, %v; want 2", deleted, err)
			}
			got = udpEntries(t, ct)
			if got[entry(c1, svc1, ep1)] || got[entry(c2, svc1, ep1)] || !got[entry(c3, svc2, ep2)] {
				t.Fatalf("after Clear(endpoint): %v", got)
			}
			// Same filter again: nothing left to delete.
			if deleted, err := ct.Clear(conntrack.ForEndpoint(model.UDP, vip1, 53, ep1)); err != nil || deleted != 0 {
				t.Errorf("second Clear(endpoint) = %d, %v; want 0", deleted, err)
			}
			// The client sends again: a fresh entry, traffic flows.
			roundTrip(t, n, c1, svc1)
			if got = udpEntries(t, ct); !got[entry(c1, svc1, ep1)] {
				t.Fatalf("no new entry after the flow resumed: %v", got)
			}

			// Service 2 removed: by address and port only.
			if deleted, err := ct.Clear(conntrack.ForService(model.UDP, vip2, 53)); err != nil || deleted != 1 {
				t.Fatalf("Clear(service) = %d, %v; want 1", deleted, err)
			}
			if got = udpEntries(t, ct); got[entry(c3, svc2, ep2)] || !got[entry(c1, svc1, ep1)] {
				t.Fatalf("after Clear(service): %v", got)
			}
		})
	}
}
