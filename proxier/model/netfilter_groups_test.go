package model

import (
	"net/netip"
	"slices"
	"testing"
)

// TestSortKeepsSharedSourceRanges: sorting an intent never changes the
// source ranges it shares with a fragment (they were compacted in place:
// a duplicate range left a zero prefix in the fragment's array, which the
// next intent built from it carried as "invalid Prefix").
func TestSortKeepsSharedSourceRanges(t *testing.T) {
	shared := []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24"), netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("198.18.1.0/24")}
	orig := slices.Clone(shared)
	n := Netfilter{Ports: []ServicePort{{VSKey: VSKey{Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: TCP}, SourceRanges: shared}}}
	n.Sort()
	if !slices.Equal(shared, orig) {
		t.Errorf("the shared ranges became %v, were %v", shared, orig)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("198.18.1.0/24")}
	if got := n.Ports[0].SourceRanges; !slices.Equal(got, want) {
		t.Errorf("sorted ranges %v, want %v", got, want)
	}
}

// TestReplaceGroups: the named groups' entries are replaced (added,
// changed, removed), the others kept, and the original intent unchanged.
func TestReplaceGroups(t *testing.T) {
	port := func(a string, p uint16) ServicePort {
		return ServicePort{VSKey: VSKey{Addr: netip.MustParseAddr(a), Port: p, Proto: TCP}}
	}
	n := Netfilter{Ports: []ServicePort{port("198.18.0.1", 80), port("198.18.0.2", 80), port("198.18.0.2", 443), port("198.18.0.3", 80)},
		NodePorts: []NodePort{{Proto: TCP, Port: 30001}, {Proto: TCP, Port: 30002}}}
	n.Sort()
	before := slices.Clone(n.Ports)
	g := NetfilterGroups{Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.4")},
		NodePorts: []NodePort{{Proto: TCP, Port: 30001}}}
	with := Netfilter{Ports: []ServicePort{port("198.18.0.2", 8080), port("198.18.0.4", 80)},
		NodePorts: []NodePort{{Proto: TCP, Port: 30001, Local: true}}}
	got := n.ReplaceGroups(&g, &with)
	want := Netfilter{Ports: []ServicePort{port("198.18.0.1", 80), port("198.18.0.2", 8080), port("198.18.0.3", 80), port("198.18.0.4", 80)},
		NodePorts: []NodePort{{Proto: TCP, Port: 30001, Local: true}, {Proto: TCP, Port: 30002}}}
	if !got.Equal(&want) {
		t.Errorf("got\n%v\nwant\n%v", got.Lines(), want.Lines())
	}
	if !slices.EqualFunc(n.Ports, before, func(a, b ServicePort) bool { return a.Equal(b) }) {
		t.Error("ReplaceGroups changed the original intent")
	}
	if part := got.Groups(&g); !part.Equal(&with) {
		t.Errorf("Groups = %v, want %v", part.Lines(), with.Lines())
	}
}
