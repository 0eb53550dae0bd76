package netfilter

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// buildSets computes every set of one family's table from the intent.
func buildSets(n *model.Netfilter, f family, d detection) []Set {
	sets := newSets(f, n)
	local := localCIDRs(n, f)
	sets.addPorts(n, f, d.detects(n, f))
	sets.addFirewall(n, f)
	for _, r := range local {
		sets.add(setLocalCIDRs, Element{Key: r.from, KeyEnd: r.to})
	}
	for _, e := range n.Hairpin {
		if f.is(e.Addr) {
			ep := addrBytes(e.Addr)
			sets.add(setHairpin, Element{Key: concat(ep, protoBytes(e.Proto), portBytes(e.Port), ep)})
		}
	}
	for _, np := range n.NodePorts {
		sets.add(setNodePorts, Element{Key: concat(protoBytes(np.Proto), portBytes(np.Port))})
	}
	for _, p := range []model.Protocol{model.TCP, model.UDP, model.SCTP} {
		sets.add(setRejectProtos, Element{Key: []byte{byte(p)}}) // single fields are not padded
	}
	out := make([]Set, 0, len(sets))
	for name, s := range sets {
		s.Name = name
		s.Elements = canonicalElements(s.Elements)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Set) int { return setOrder(a.Name) - setOrder(b.Name) })
	return out
}

// setBuilder collects the elements of a table's sets, by name.
type setBuilder map[string]*Set

// newSets returns the empty sets of a table, with room for the elements
// the intent's lists can give (growing slices of 100,000 elements cost more
// than the rest of Translate).
func newSets(f family, n *model.Netfilter) setBuilder {
	svcKey := []Field{f.addr, FieldProto, FieldPort}
	ports := len(n.Ports)
	set := func(size int, fields ...Field) *Set {
		return &Set{Fields: fields, Elements: make([]Element, 0, size)}
	}
	b := setBuilder{
		setServiceIPs:       set(ports, f.addr),
		setServicePorts:     set(ports, svcKey...),
		setMasqPorts:        set(ports, svcKey...),
		setClusterPorts:     set(ports, svcKey...),
		setLocalCIDRs:       set(len(n.LocalCIDRs), f.addr),
		setHairpin:          set(len(n.Hairpin), f.addr, FieldProto, FieldPort, f.addr),
		setFirewallPorts:    set(0, svcKey...),
		setFirewallAllow:    set(0, f.addr, FieldProto, FieldPort, f.addr),
		setNoLocalEndpoints: set(0, svcKey...),
		setNodePorts:        set(len(n.NodePorts), FieldProto, FieldPort),
		setRejectProtos:     set(3, FieldProto),
	}
	b[setLocalCIDRs].Interval = true
	b[setFirewallAllow].Interval = true
	return b
}

func (b setBuilder) add(name string, e Element) { b[name].Elements = append(b[name].Elements, e) }

// addPorts fills the service, masquerade and no-local-endpoints sets.
// Cluster ports are masqueraded by source only when the family has local
// detection (local CIDRs of its family, or a local interface), and ports
// without a local endpoint drop outside connections only then: without
// local detection, pods cannot be told from outside clients, and their
// connections (which kube-proxy's IPVS mode forwards) must work.
//
// The address of a Host port (the host's own) stays out of service-ips, so
// that filter-input never rejects the host's other ports on it (SSH, the
// kubelet) and connections from it are not taken for connections from a
// service address. Its port still goes into service-ports, which only
// matters together with service-ips: for the masquerade rule of
// connections from a service address, which must cover it as any port.
func (b setBuilder) addPorts(n *model.Netfilter, f family, detectLocal bool) {
	for _, p := range n.Ports {
		if !f.is(p.Addr) {
			continue
		}
		key := portKey(p.VSKey)
		if p.Kind != model.KindNodePort {
			if inServiceIPs(p) {
				b.add(setServiceIPs, Element{Key: addrBytes(p.Addr)})
			}
			b.add(setServicePorts, Element{Key: key})
		}
		if p.NoLocalEndpoints && detectLocal {
			b.add(setNoLocalEndpoints, Element{Key: key})
		}
		switch masquerade(p, n.MasqueradeAll) {
		case masqAlways:
			b.add(setMasqPorts, Element{Key: key})
		case masqIfNotLocal:
			if detectLocal {
				b.add(setClusterPorts, Element{Key: key})
			}
		}
	}
}

// inServiceIPs reports whether the port puts its address in service-ips:
// ports of cluster, external and load-balancer addresses that are not the
// host's.
func inServiceIPs(p model.ServicePort) bool { return p.Kind != model.KindNodePort && !p.Host }

// addFirewall fills the source-range sets. Ranges are merged per port: the
// same load-balancer port may come from two services that claim it, and the
// kernel refuses overlapping intervals. Host ports are not firewalled: the
// address is the host's, and the proxy never makes it unreachable.
func (b setBuilder) addFirewall(n *model.Netfilter, f family) {
	firewalled := map[model.VSKey][]netip.Prefix{}
	for _, p := range n.Ports {
		if p.Kind == model.KindLoadBalancer && !p.Host && f.is(p.Addr) {
			firewalled[p.VSKey] = append(firewalled[p.VSKey], p.SourceRanges...)
		}
	}
	for k, prefixes := range firewalled {
		ranges := sourceRanges(prefixes, f)
		if len(ranges) == 0 {
			continue
		}
		key := portKey(k)
		b.add(setFirewallPorts, Element{Key: key})
		for _, r := range ranges {
			b.add(setFirewallAllow, Element{Key: concat(key, r.from), KeyEnd: concat(key, r.to)})
		}
	}
}

// setOrder is the order sets are created and printed in.
func setOrder(name string) int {
	return slices.Index([]string{
		setServiceIPs, setServicePorts, setRejectProtos, setNodePorts,
		setFirewallPorts, setFirewallAllow, setNoLocalEndpoints,
		setHairpin, setMasqPorts, setClusterPorts, setLocalCIDRs,
	}, name)
}

// masqMode says when traffic to a service port is masqueraded.
type masqMode uint8

const (
	masqNever      masqMode = iota // only hairpin and VIP-sourced traffic
	masqAlways                     // every connection
	masqIfNotLocal                 // connections from outside LocalCIDRs
)

// masquerade decides a port's masquerading as kube-proxy's IPVS mode does:
// cluster IPs are masqueraded for all sources with --masquerade-all, else
// for sources outside the cluster; external, load-balancer and node ports
// always, unless externalTrafficPolicy is Local (which keeps the client
// address even with --masquerade-all, as kube-proxy does).
func masquerade(p model.ServicePort, all bool) masqMode {
	switch {
	case p.Kind == model.KindClusterIP && all:
		return masqAlways
	case p.Kind == model.KindClusterIP:
		return masqIfNotLocal
	case p.Local:
		return masqNever
	}
	return masqAlways
}

// addrRange is an inclusive range of addresses, as key bytes.
type addrRange struct{ from, to []byte }

// localCIDRs returns the family's local prefixes as disjoint ranges.
func localCIDRs(n *model.Netfilter, f family) []addrRange {
	return prefixRanges(n.LocalCIDRs, f)
}

// sourceRanges returns a load-balancer port's allowed sources of the
// family as disjoint ranges. Ranges of the other family are ignored, and a
// port with none of its own family is not filtered: kube-proxy splits
// loadBalancerSourceRanges by family the same way.
func sourceRanges(prefixes []netip.Prefix, f family) []addrRange {
	return prefixRanges(prefixes, f)
}

// prefixRanges turns the prefixes of one family into sorted ranges, merging
// overlapping and adjacent ones: the kernel rejects overlapping intervals.
func prefixRanges(prefixes []netip.Prefix, f family) []addrRange {
	var rs []addrRange
	for _, p := range prefixes {
		if !p.IsValid() || !f.is(p.Addr()) {
			continue
		}
		p = p.Masked()
		rs = append(rs, addrRange{from: addrBytes(p.Addr()), to: addrBytes(lastAddr(p))})
	}
	slices.SortFunc(rs, func(a, b addrRange) int { return bytes.Compare(a.from, b.from) })
	var out []addrRange
	for _, r := range rs {
		if len(out) > 0 {
			last := &out[len(out)-1]
			if next, ok := increment(last.to); !ok || bytes.Compare(r.from, next) <= 0 {
				if bytes.Compare(r.to, last.to) > 0 {
					last.to = r.to
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// lastAddr returns the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// increment returns b+1 as a big-endian number, and false on overflow.
func increment(b []byte) ([]byte, bool) {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return out, false
}

// portKey encodes addr . proto . port.
func portKey(k model.VSKey) []byte {
	return concat(addrBytes(k.Addr), protoBytes(k.Proto), portBytes(k.Port))
}

// addrBytes encodes an address in network order (4 or 16 bytes).
func addrBytes(a netip.Addr) []byte { return a.Unmap().AsSlice() }

// protoBytes encodes a protocol number padded to a register.
func protoBytes(p model.Protocol) []byte { return []byte{byte(p), 0, 0, 0} }

// portBytes encodes a port in network order padded to a register.
func portBytes(port uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, port)
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// canonicalElements sorts elements and drops duplicates, so that equal
// intents give equal programs.
func canonicalElements(es []Element) []Element {
	slices.SortFunc(es, compareElement)
	return slices.CompactFunc(es, func(a, b Element) bool { return compareElement(a, b) == 0 })
}

func compareElement(a, b Element) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.KeyEnd, b.KeyEnd)
}
