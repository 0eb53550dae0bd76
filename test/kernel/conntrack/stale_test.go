//go:build vmtest

package conntrack_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// create inserts entries through ctnetlink, as IPVS would have made them.
func create(t *testing.T, n *netnstest.NetNS, entries []conntrack.Entry) {
	t.Helper()
	tuple := func(tp conntrack.Tuple, proto model.Protocol) netlink.IPTuple {
		return netlink.IPTuple{Protocol: uint8(proto),
			SrcIP: net.IP(tp.Src.Addr().AsSlice()), SrcPort: tp.Src.Port(),
			DstIP: net.IP(tp.Dst.Addr().AsSlice()), DstPort: tp.Dst.Port()}
	}
	for _, e := range entries {
		fam := netlink.InetFamily(unix.AF_INET)
		if e.Orig.Dst.Addr().Is6() {
			fam = unix.AF_INET6
		}
		f := &netlink.ConntrackFlow{FamilyType: uint8(fam), TimeOut: 600,
			Forward: tuple(e.Orig, e.Proto), Reverse: tuple(e.Reply, e.Proto)}
		if err := n.NL.ConntrackCreate(netlink.ConntrackTable, fam, f); err != nil {
			t.Fatalf("creating %s: %v", e, err)
		}
	}
}

// entriesTo makes count flows from distinct client ports to svc, answered
// by ep.
func entriesTo(client netip.Addr, firstPort uint16, count int, svc, ep netip.AddrPort) []conntrack.Entry {
	out := make([]conntrack.Entry, count)
	for i := range out {
		c := netip.AddrPortFrom(client, firstPort+uint16(i))
		out[i] = conntrack.Entry{Proto: model.UDP, Orig: conntrack.Tuple{Src: c, Dst: svc},
			Reply: conntrack.Tuple{Src: ep, Dst: c}}
	}
	return out
}

// TestStaleFiltersOnKernel runs the full-reconcile path on a real table of
// both families: List, StaleFilters against the serving endpoints, Clear,
// and checks that exactly the stale entries went. It reports how long the
// dump and deletion of a few thousand entries took.
func TestStaleFiltersOnKernel(t *testing.T) {
	n := netnstest.New(t)
	ct := adapter(t, n)
	client4, client6 := netip.MustParseAddr("198.18.30.1"), netip.MustParseAddr("fd00:30::1")
	dns4, dns6 := ap("198.18.31.10:53"), ap("[fd00:31::10]:53")
	nodePort := ap("198.18.30.2:30053")
	live4, gone4 := ap("198.18.32.5:53"), ap("198.18.32.6:53")
	live6, gone6 := ap("[fd00:32::5]:53"), ap("[fd00:32::6]:53")
	const per = 500
	var all []conntrack.Entry
	all = append(all, entriesTo(client4, 10000, per, dns4, live4)...)
	all = append(all, entriesTo(client4, 20000, per, dns4, gone4)...)
	all = append(all, entriesTo(client4, 30000, per, nodePort, gone4)...)
	all = append(all, entriesTo(client4, 40000, per, ap("198.18.31.99:53"), gone4)...) // not a service of ours
	all = append(all, entriesTo(client6, 10000, per, dns6, live6)...)
	all = append(all, entriesTo(client6, 20000, per, dns6, gone6)...)
	create(t, n, all)

	start := time.Now()
	listed, err := ct.List(model.UDP)
	if err != nil {
		t.Fatal(err)
	}
	listTook := time.Since(start)
	if len(listed) != len(all) {
		t.Fatalf("List() returned %d entries, want %d", len(listed), len(all))
	}
	key := func(a netip.AddrPort) model.VSKey {
		return model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: model.UDP}
	}
	serving := map[model.VSKey][]netip.Addr{
		key(dns4):     {live4.Addr()},
		key(dns6):     {live6.Addr()},
		key(nodePort): {live4.Addr()},
	}
	filters := conntrack.StaleFilters(listed, serving)
	if len(filters) != 3 {
		t.Fatalf("StaleFilters() = %v, want 3 filters", filters)
	}
	start = time.Now()
	deleted, err := ct.Clear(filters...)
	clearTook := time.Since(start)
	if err != nil || deleted != 3*per {
		t.Fatalf("Clear() = %d, %v; want %d", deleted, err, 3*per)
	}
	left, err := ct.List(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3*per {
		t.Errorf("%d entries left, want %d", len(left), 3*per)
	}
	for _, e := range left {
		if r := e.Reply.Src; r != live4 && r != live6 && e.Orig.Dst.Addr() != netip.MustParseAddr("198.18.31.99") {
			t.Errorf("stale entry left: %s", e)
		}
	}
	if again := conntrack.StaleFilters(left, serving); len(again) != 0 {
		t.Errorf("still stale after Clear: %v", again)
	}
	t.Logf("listed %d entries in %v; deleted %d in %v (%.0f deletions/s)",
		len(all), listTook, deleted, clearTook, float64(deleted)/clearTook.Seconds())
}

// TestClearRejects checks that no filter means no call and that a filter
// selecting a whole protocol is refused before anything is deleted.
func TestClearRejects(t *testing.T) {
	n := netnstest.New(t)
	ct := adapter(t, n)
	create(t, n, entriesTo(netip.MustParseAddr("198.18.30.1"), 10000, 3, ap("198.18.31.10:53"), ap("198.18.32.5:53")))
	if deleted, err := ct.Clear(); deleted != 0 || err != nil {
		t.Errorf("Clear() = %d, %v; want 0, nil", deleted, err)
	}
	if _, err := ct.Clear(conntrack.ForService(model.UDP, netip.MustParseAddr("198.18.31.10"), 53),
		conntrack.Filter{Proto: model.UDP}); err == nil {
		t.Error("Clear(whole protocol) returned no error")
	}
	if es, _ := ct.List(model.UDP); len(es) != 3 {
		t.Errorf("%d entries left, want 3", len(es))
	}
	// A port-only filter (kube-proxy's NodePort rule) works across families.
	create(t, n, entriesTo(netip.MustParseAddr("fd00:30::1"), 10000, 2, ap("[fd00:31::10]:30053"), ap("[fd00:32::5]:53")))
	create(t, n, entriesTo(netip.MustParseAddr("198.18.30.1"), 20000, 2, ap("198.18.30.2:30053"), ap("198.18.32.5:53")))
	if deleted, err := ct.Clear(conntrack.Filter{Proto: model.UDP, OrigDstPort: 30053}); err != nil || deleted != 4 {
		t.Errorf("Clear(port 30053) = %d, %v; want 4", deleted, err)
	}
}
