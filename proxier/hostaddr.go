package proxier

import (
	"fmt"
	"net/netip"
	"slices"
)

// Two rules keep a node proxy from ever being the reason a node is
// unreachable, or from asking the kernel for what it refuses.
//
// Addresses that are nobody's service address: loopback, multicast,
// link-local (unicast or multicast), unspecified and the IPv4 limited
// broadcast 255.255.255.255. A cluster IP, external IP or load-balancer
// ingress IP of one of those kinds is reported and skipped: bound on the
// dummy interface, 127.0.0.1 would steal the host's loopback traffic, and
// in the netfilter program's service-ips set it would make the node reject
// every port on it that no service uses. An endpoint address of those kinds
// is reported and skipped too: IPVS refuses such destinations. The API
// server refuses most of them for endpoints (ValidateEndpointIP in
// k8s.io/kubernetes pkg/apis/core/validation rejects unspecified, loopback
// and link-local ones) but accepts 239.1.1.1 or 255.255.255.255.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are read as the IPv4 address
// they carry, as kube-proxy reads them (netutils.ParseIPSloppy gives an
// IP whose To4 is not nil, so the address counts as IPv4); both rules apply
// to that IPv4 address.
//
// Host addresses (Node.HostIPs, IPs and NodePortIPs) are served but never
// ours. A service address that is one of them still gets its virtual
// servers, on the service's own ports, as in kube-proxy's IPVS mode, which
// creates them but does not bind an address found on another interface
// (shouldBind in pkg/proxy/ipvs/proxier.go). The address is not in
// ServiceState.Addresses, so it is never bound on the dummy interface, and
// its model.ServicePort entries carry Host, so the netfilter program leaves
// it out of the reject set (SSH or the kubelet on the node's address keep
// working; kube-proxy's reject set KUBE-IPVS-IPS holds only the addresses it
// binds, too) and out of the loadBalancerSourceRanges firewall (which
// kube-proxy applies: a firewall of the node's own address is not the
// proxy's to run). Each such address is reported, so the owner of the
// Service learns why.

// unusableReason says why a can be neither a service address nor a real
// server, or returns "" when it can. a must be unmapped.
func unusableReason(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "is unspecified"
	case a.IsLoopback():
		return "is a loopback address"
	case a.IsLinkLocalMulticast():
		return "is a link-local multicast address"
	case a.IsMulticast():
		return "is a multicast address"
	case a.IsLinkLocalUnicast():
		return "is a link-local address"
	case a == limitedBroadcast:
		return "is the IPv4 limited broadcast address"
	}
	return ""
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// describeAddr names an address in a problem: as written, followed by what
// it was read as when that differs (an IPv4-mapped IPv6 address).
func describeAddr(raw string, a netip.Addr) string {
	if raw == a.String() {
		return raw
	}
	return fmt.Sprintf("%q (%s)", raw, a)
}

// isHost reports whether a is an address of this node: one of HostIPs, or
// of IPs or NodePortIPs, which are the host's too (a caller that cannot
// read the interfaces still gets the node IPs right).
func (n *Node) isHost(a netip.Addr) bool {
	return slices.Contains(n.HostIPs, a) || slices.Contains(n.IPs, a) || slices.Contains(n.NodePortIPs, a)
}

// hostAddressProblem explains, for the service field that listed it, what
// happens to a host address.
func hostAddressProblem(field string, a netip.Addr) string {
	msg := fmt.Sprintf("%s: %s is an address of this node; its service ports are served but it is not bound on the dummy interface, and no other port on it is rejected", field, a)
	if field == fieldLoadBalancer {
		msg += " or firewalled (loadBalancerSourceRanges are not enforced on it)"
	}
	return msg
}

// Service fields that hold addresses, as problems name them.
const (
	fieldClusterIPs   = "clusterIPs"
	fieldExternalIPs  = "externalIPs"
	fieldLoadBalancer = "status.loadBalancer.ingress"
)
