package model

import (
	"cmp"
	"net/netip"
	"slices"
)

// NetfilterGroups names groups of a netfilter intent's entries: every
// element of our nftables program is made from the entries of one group
// (package netfilter: Diff), so a change confined to some groups is
// programmed by translating those groups only, as they were and as they
// become. The groups are:
//   - Addrs: the ports of one service address (the service-ips element
//     stands for all the ports of its address);
//   - NodePorts: the node ports of one protocol and port (Local ignored);
//   - Hairpin: one endpoint.
//
// Each list is sorted and without duplicates (Sort).
type NetfilterGroups struct {
	Addrs     []netip.Addr
	NodePorts []NodePort // Local is not part of the key
	Hairpin   []Endpoint
}

// Empty reports whether g names no group.
func (g *NetfilterGroups) Empty() bool {
	return len(g.Addrs) == 0 && len(g.NodePorts) == 0 && len(g.Hairpin) == 0
}

// Sort sorts the groups and drops duplicates.
func (g *NetfilterGroups) Sort() {
	slices.SortFunc(g.Addrs, netip.Addr.Compare)
	g.Addrs = slices.Compact(g.Addrs)
	slices.SortFunc(g.NodePorts, CompareNodePortGroup)
	g.NodePorts = slices.CompactFunc(g.NodePorts, func(a, b NodePort) bool { return CompareNodePortGroup(a, b) == 0 })
	slices.SortFunc(g.Hairpin, compareEndpoint)
	g.Hairpin = slices.Compact(g.Hairpin)
}

// Group keys: a sorted intent's lists are sorted by them (Sort orders
// ports by address first, node ports by protocol and port first).

// ComparePortGroup orders service ports by their group, the address.
func ComparePortGroup(a, b ServicePort) int { return a.Addr.Compare(b.Addr) }

// CompareNodePortGroup orders node ports by their group, protocol and port.
func CompareNodePortGroup(a, b NodePort) int {
	return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
}

// CompareEndpoint orders hairpin endpoints; each is its own group.
func CompareEndpoint(a, b Endpoint) int { return compareEndpoint(a, b) }

// Groups returns the entries of the groups g names, from the sorted intent
// n, with n's settings: found by binary search, so it costs the size of
// those groups, not of n. The lists share n's arrays.
func (n *Netfilter) Groups(g *NetfilterGroups) Netfilter {
	out := Netfilter{MasqueradeAll: n.MasqueradeAll, LocalCIDRs: n.LocalCIDRs,
		LocalInterface: n.LocalInterface, MasqueradeMark: n.MasqueradeMark}
	out.Ports = pick(n.Ports, g.Addrs, func(p ServicePort, a netip.Addr) int { return p.Addr.Compare(a) })
	out.NodePorts = pick(n.NodePorts, g.NodePorts, CompareNodePortGroup)
	out.Hairpin = pick(n.Hairpin, g.Hairpin, compareEndpoint)
	return out
}

// SameSettings reports whether two intents have the same settings (what is
// not a list of entries); LocalCIDRs must be sorted, as Sort leaves them.
func (n *Netfilter) SameSettings(o *Netfilter) bool {
	return n.MasqueradeAll == o.MasqueradeAll && slices.Equal(n.LocalCIDRs, o.LocalCIDRs) &&
		n.LocalInterface == o.LocalInterface && n.MasqueradeMark == o.MasqueradeMark
}

// ReplaceGroups returns a copy of the sorted intent n whose entries in the
// groups g names are those of the sorted intent with (which must hold
// entries of those groups only), and n's settings. It copies n's lists once
// (O(len(n)) without comparisons) and finds each group by binary search: n
// itself is never changed, so an intent handed to a reader stays valid.
func (n *Netfilter) ReplaceGroups(g *NetfilterGroups, with *Netfilter) Netfilter {
	out := *n
	out.Ports = replace(n.Ports, with.Ports, g.Addrs, func(p ServicePort, a netip.Addr) int { return p.Addr.Compare(a) })
	out.NodePorts = replace(n.NodePorts, with.NodePorts, g.NodePorts, CompareNodePortGroup)
	out.Hairpin = replace(n.Hairpin, with.Hairpin, g.Hairpin, compareEndpoint)
	return out
}

// pick returns the runs of list (sorted by group) whose group is one of
// keys (sorted).
func pick[T, K any](list []T, keys []K, key func(T, K) int) []T {
	var out []T
	for _, k := range keys {
		lo, hi := run(list, k, key)
		out = append(out, list[lo:hi]...)
	}
	return out
}

// run returns the bounds of the entries of group k in list.
func run[T, K any](list []T, k K, key func(T, K) int) (lo, hi int) {
	lo, _ = slices.BinarySearchFunc(list, k, key)
	hi = lo
	for hi < len(list) && key(list[hi], k) == 0 {
		hi++
	}
	return lo, hi
}

// replace returns a new list: list with the runs of the groups in keys
// replaced by with's entries of those groups, in order.
func replace[T, K any](list, with []T, keys []K, key func(T, K) int) []T {
	if len(keys) == 0 {
		return list
	}
	out := make([]T, 0, len(list)+len(with))
	i, j := 0, 0
	for _, k := range keys {
		lo, hi := run(list[i:], k, key)
		out = append(out, list[i:i+lo]...)
		wlo, whi := run(with[j:], k, key)
		out = append(out, with[j+wlo:j+whi]...)
		i, j = i+hi, j+whi
	}
	return append(out, list[i:]...)
}
