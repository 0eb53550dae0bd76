package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// PortKind says how a service port is reached, which decides its netfilter
// treatment (masquerading, source-range filtering, reject of unused ports).
type PortKind uint8

// Port kinds.
const (
	KindClusterIP PortKind = iota + 1
	KindExternalIP
	KindLoadBalancer
	KindNodePort
)

// String returns the kind's lower-case name as it appears in dumps.
func (k PortKind) String() string {
	switch k {
	case KindClusterIP:
		return "cluster-ip"
	case KindExternalIP:
		return "external-ip"
	case KindLoadBalancer:
		return "load-balancer"
	case KindNodePort:
		return "node-port"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// ServicePort is one address:port:protocol the node serves, with what the
// netfilter adapter needs to know about it.
type ServicePort struct {
	VSKey
	Kind PortKind
	// Local is set for externally reachable ports of services with
	// externalTrafficPolicy Local: their traffic is not masqueraded, so
	// backends see the client's address.
	Local bool
	// SourceRanges, for load-balancer ports, are the only source prefixes
	// allowed to connect (loadBalancerSourceRanges); empty allows all. They
	// are not enforced on a Host port.
	SourceRanges []netip.Prefix
	// Host is set for a cluster, external or load-balancer port whose
	// address belongs to the host (one of its interfaces' addresses, a node
	// IP for example). The port is served and masqueraded as any other, but
	// the address is not ours: it is not a service IP (ServiceIPs), so new
	// connections to its other ports are not rejected, and SourceRanges are
	// not enforced on it. Node ports, always on host addresses, do not
	// carry it.
	Host bool
	// NoLocalEndpoints is set on a Local port (external IP, load-balancer
	// or node port of a service with externalTrafficPolicy Local) when this
	// node has no endpoint of its own for it but the cluster has: its
	// virtual server then takes the cluster's endpoints, as kube-proxy's
	// IPVS mode does (kubernetes#97081), so that pods and the node itself
	// reach the service through its external addresses. New connections
	// from elsewhere (sources outside LocalCIDRs, or connections that did
	// not enter through the LocalInterface, that do not come from the
	// node) are dropped, as kube-proxy's nftables mode drops them: not
	// masqueraded, their replies would leave from another node and never
	// reach the client. Without LocalCIDRs of the port's family (and no
	// LocalInterface) nothing is dropped: pods could not be told from
	// outside clients.
	NoLocalEndpoints bool
}

// Equal reports whether two ports are the same in every field.
func (p ServicePort) Equal(o ServicePort) bool { return compareServicePort(p, o) == 0 }

// String returns the port as it appears in dumps (after "port "): its
// kind, key, flags and source ranges. It names every field.
func (p ServicePort) String() string {
	var b strings.Builder
	b.WriteString(p.Kind.String())
	b.WriteByte(' ')
	b.WriteString(p.VSKey.String())
	if p.Local {
		b.WriteString(" local")
	}
	if p.Host {
		b.WriteString(" host")
	}
	if p.NoLocalEndpoints {
		b.WriteString(" no-local-endpoints")
	}
	for i, r := range p.SourceRanges {
		if i == 0 {
			b.WriteString(" source-ranges ")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// NodePort is a port opened on the node's addresses for a NodePort service.
type NodePort struct {
	Proto Protocol
	Port  uint16
	// Local is set for externalTrafficPolicy Local (no masquerade).
	Local bool
}

// Endpoint is a backend address:port:protocol on this node, used for hairpin
// masquerading (a pod reaching itself through its own service).
type Endpoint struct {
	Addr  netip.Addr
	Port  uint16
	Proto Protocol
}

// Netfilter is the netfilter intent: everything a service needs that IPVS
// alone cannot express. The netfilter adapter turns it into one ruleset with
// sets, so the number of rules does not grow with the number of services.
type Netfilter struct {
	// MasqueradeAll masquerades all traffic to service addresses.
	MasqueradeAll bool
	// LocalCIDRs are the sources counted as cluster-local (pod) traffic;
	// traffic to cluster IPs from elsewhere is masqueraded. Empty means no
	// local detection (only MasqueradeAll and hairpin apply).
	LocalCIDRs []netip.Prefix
	// LocalInterface, when its Name is set, tells cluster-local (pod)
	// traffic by the interface it enters the node through instead
	// (detectLocalMode BridgeInterface or InterfaceNamePrefix), for both
	// families; LocalCIDRs are then not used. The node's own connections
	// enter through no interface, so they are never local.
	LocalInterface LocalInterface
	// MasqueradeMark is the packet mark bit that carries the masquerade
	// decision from prerouting and output, where the input interface is
	// known, to postrouting, where it is not (kube-proxy's
	// 1<<iptables.masqueradeBit). Used only with a LocalInterface.
	MasqueradeMark uint32
	// Ports are all service address:port:protocol entries, sorted.
	Ports []ServicePort
	// NodePorts are the node ports in use, sorted.
	NodePorts []NodePort
	// Hairpin are the local endpoints that may reach themselves through a
	// service, sorted.
	Hairpin []Endpoint
}

// LocalInterface names the interface, or the interface-name prefix, that
// cluster-local (pod) traffic enters the node through.
type LocalInterface struct {
	// Name is the interface's name (a bridge), or with Prefix the start of
	// the names of the pods' interfaces. Empty means none.
	Name   string
	Prefix bool
}

// String returns the match as kube-proxy's nftables mode writes it:
// `cni0`, or `veth*` for a prefix.
func (l LocalInterface) String() string {
	if l.Prefix {
		return l.Name + "*"
	}
	return l.Name
}

// ServiceIPs returns the distinct addresses of service ports that are
// neither node ports nor Host ports, sorted: new connections to them on
// other ports are rejected.
func (n *Netfilter) ServiceIPs() []netip.Addr {
	var out []netip.Addr
	for _, p := range n.Ports {
		if p.Kind != KindNodePort && !p.Host {
			out = append(out, p.Addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Sort puts every list in canonical order and removes duplicates.
func (n *Netfilter) Sort() {
	slices.SortFunc(n.LocalCIDRs, comparePrefix)
	n.LocalCIDRs = slices.Compact(n.LocalCIDRs)
	for i := range n.Ports {
		n.Ports[i].SourceRanges = sortedPrefixes(n.Ports[i].SourceRanges)
	}
	slices.SortFunc(n.Ports, compareServicePort)
	n.Ports = slices.CompactFunc(n.Ports, func(a, b ServicePort) bool { return compareServicePort(a, b) == 0 })
	slices.SortFunc(n.NodePorts, compareNodePort)
	n.NodePorts = slices.Compact(n.NodePorts)
	slices.SortFunc(n.Hairpin, compareEndpoint)
	n.Hairpin = slices.Compact(n.Hairpin)
}

// sortedPrefixes returns the prefixes sorted and without duplicates: the
// list itself when it is, else a sorted copy. A port's SourceRanges are
// shared with the fragment it came from, which sorting in place would
// change under the assembler's feet (compacting zeroes the tail).
func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	for i := 1; i < len(ps); i++ {
		if comparePrefix(ps[i-1], ps[i]) >= 0 {
			c := slices.Clone(ps)
			slices.SortFunc(c, comparePrefix)
			return slices.Compact(c)
		}
	}
	return ps
}

// Equal reports whether two sorted intents are the same.
func (n *Netfilter) Equal(o *Netfilter) bool {
	return n.MasqueradeAll == o.MasqueradeAll &&
		slices.Equal(n.LocalCIDRs, o.LocalCIDRs) &&
		n.LocalInterface == o.LocalInterface && n.MasqueradeMark == o.MasqueradeMark &&
		slices.EqualFunc(n.Ports, o.Ports, func(a, b ServicePort) bool { return compareServicePort(a, b) == 0 }) &&
		slices.Equal(n.NodePorts, o.NodePorts) &&
		slices.Equal(n.Hairpin, o.Hairpin)
}

// Lines returns the canonical dump of a sorted intent, one fact per line.
func (n *Netfilter) Lines() []string {
	var out []string
	out = append(out, fmt.Sprintf("masquerade-all %t", n.MasqueradeAll))
	for _, c := range n.LocalCIDRs {
		out = append(out, "local-cidr "+c.String())
	}
	if n.LocalInterface.Name != "" {
		out = append(out, "local-interface "+n.LocalInterface.String())
	}
	if n.MasqueradeMark != 0 {
		out = append(out, fmt.Sprintf("masquerade-mark %#x", n.MasqueradeMark))
	}
	for _, p := range n.Ports {
		out = append(out, "port "+p.String())
	}
	for _, np := range n.NodePorts {
		l := fmt.Sprintf("node-port %s %d", np.Proto, np.Port)
		if np.Local {
			l += " local"
		}
		out = append(out, l)
	}
	for _, e := range n.Hairpin {
		out = append(out, fmt.Sprintf("hairpin %s %s", e.Proto, netip.AddrPortFrom(e.Addr, e.Port)))
	}
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func compareVSKey(a, b VSKey) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return int(a.Proto) - int(b.Proto)
}

func compareServicePort(a, b ServicePort) int {
	if c := compareVSKey(a.VSKey, b.VSKey); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	if c := compareBool(a.Local, b.Local); c != 0 {
		return c
	}
	if c := compareBool(a.Host, b.Host); c != 0 {
		return c
	}
	if c := compareBool(a.NoLocalEndpoints, b.NoLocalEndpoints); c != 0 {
		return c
	}
	return slices.CompareFunc(a.SourceRanges, b.SourceRanges, comparePrefix)
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func compareNodePort(a, b NodePort) int {
	if a.Proto != b.Proto {
		return int(a.Proto) - int(b.Proto)
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	if a.Local != b.Local {
		if a.Local {
			return 1
		}
		return -1
	}
	return 0
}

func compareEndpoint(a, b Endpoint) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return int(a.Proto) - int(b.Proto)
}

// ServedPorts is what our netfilter program records of the virtual servers
// it serves, read back after a restart (a netfilter snapshot's Record):
// the engine knows by it the virtual servers it created on host addresses,
// which no other kernel state records, and which virtual servers a
// previous run programmed (see reconcile.Owner).
type ServedPorts struct {
	// Ports are the cluster, external and load-balancer ports (address,
	// protocol, port) served, host ports included, sorted.
	Ports []VSKey
	// NodePorts are the node ports served (Local unset), sorted.
	NodePorts []NodePort
}

// Sort sorts both lists and removes repeats.
func (r *ServedPorts) Sort() {
	slices.SortFunc(r.Ports, VSKey.Compare)
	r.Ports = slices.Compact(r.Ports)
	slices.SortFunc(r.NodePorts, compareNodePort)
	r.NodePorts = slices.Compact(r.NodePorts)
}

// NetfilterSnapshot is our netfilter program as the netfilter adapter read
// it back at one moment: one read serves both questions a restart asks of
// it (what did a previous run record, and does the program equal the
// intent) and the periodic drift check's.
type NetfilterSnapshot interface {
	// Verify returns an error when the program read differs from what
	// applying n writes (drift).
	Verify(n *Netfilter) error
	// Record returns the ports and node ports the program read holds.
	Record() ServedPorts
}
