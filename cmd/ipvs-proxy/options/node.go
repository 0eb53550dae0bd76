package options

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

// Node describes the node named name to proxier.Build as kube-proxy v1.37
// sees its node. node is its Node object and may be nil when the addresses
// come from --node-ip or --bind-address.
//
//   - IPs, the node IPs, one per family, primary first: the first of
//     --node-ip, else of the Node's InternalIP then ExternalIP addresses,
//     and the first of the other family (pkg/util/node/node.go,
//     GetNodeHostIPs). A specific --bind-address replaces the IP of its
//     family and makes that family primary (cmd/kube-proxy/app/server.go,
//     detectNodeIPs).
//   - Families: both when the host's kernel has IPv6 (HostIPv6), whatever
//     the Node lists, else the primary family alone
//     (cmd/kube-proxy/app/server_linux.go, platformCheckSupported). A family
//     without a node IP is proxied all the same; kube-proxy gives it 127.0.0.1
//     or ::1, which matters only to "primary" (skipped) and to
//     load-balancer source ranges, where ipvs-proxy needs no node IP.
//   - HostIPs, a stand-in for the addresses of the host's interfaces, which
//     only the daemon can read (it replaces them): --node-ip, else the
//     Node's InternalIP addresses, and IPs.
//   - NodePortIPs: addr.NodePortIPs over HostIPs, the rule the daemon
//     applies to the interfaces.
//
// Warnings report unusable addresses on the Node, and a node without any
// node IP. The error says the primary family is IPv6 on a host without
// IPv6, where kube-proxy refuses to start.
func (c *Config) Node(name string, node *v1.Node) (proxier.Node, []string, error) {
	out := proxier.Node{Name: name}
	if node != nil {
		out.Labels = maps.Clone(node.Labels)
	}
	listed, raw, warnings := c.rawNodeIPs(node)
	ips := pickNodeIPs(raw)
	if c.BindIP.IsValid() {
		ips = slices.DeleteFunc(ips, func(ip netip.Addr) bool { return ip.Is4() == c.BindIP.Is4() })
		ips = append([]netip.Addr{c.BindIP}, ips...)
	}
	if len(ips) == 0 {
		warnings = append(warnings, fmt.Sprintf("node %s has no InternalIP or ExternalIP address and neither --node-ip nor --bind-address is given: "+
			"proxied without a node IP, as kube-proxy does (it assumes 127.0.0.1 and ::1)", name))
	}
	families, err := nodeFamilies(ips, c.hostIPv6())
	if err != nil {
		return proxier.Node{}, warnings, fmt.Errorf("node %q: %w", name, err)
	}
	out.Families = families
	out.IPs = inFamilies(ips, families)
	out.HostIPs = inFamilies(append(listed, out.IPs...), families)
	slices.SortFunc(out.HostIPs, netip.Addr.Compare)
	out.HostIPs = slices.Compact(out.HostIPs)
	out.NodePortIPs, err = addr.NodePortIPs(c.KubeProxy.NodePortAddresses, out.IPs, out.HostIPs)
	if err != nil {
		return proxier.Node{}, warnings, err // validated by Complete
	}
	var w []string
	out.PodCIDRs, w = c.podCIDRs(name, node, families)
	return out, append(warnings, w...), nil
}

// podCIDRs returns the Node's spec.podCIDRs (spec.podCIDR when the list is
// empty), which --detect-local-mode=NodeCIDR treats as the local sources.
// With that mode, a proxied family without one gets a warning, as
// kube-proxy logs for its primary family (getLocalDetectors): its traffic
// is then not classified.
func (c *Config) podCIDRs(name string, node *v1.Node, families []v1.IPFamily) ([]netip.Prefix, []string) {
	if node == nil {
		return nil, nil
	}
	raw := node.Spec.PodCIDRs
	if len(raw) == 0 && node.Spec.PodCIDR != "" {
		raw = []string{node.Spec.PodCIDR}
	}
	var out []netip.Prefix
	var warnings []string
	for _, s := range raw {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("node %s: invalid pod CIDR %q ignored", name, s))
			continue
		}
		out = append(out, p.Masked())
	}
	if !c.LocalFromNodePodCIDRs {
		return out, warnings
	}
	for _, f := range families {
		if !slices.ContainsFunc(out, func(p netip.Prefix) bool { return p.Addr().Is6() == (f == v1.IPv6Protocol) }) {
			warnings = append(warnings, fmt.Sprintf("detect-local-mode NodeCIDR: node %s has no %s pod CIDR (spec.podCIDRs %v); %s traffic is not classified as local",
				name, f, node.Spec.PodCIDRs, f))
		}
	}
	return out, warnings
}

// rawNodeIPs returns the addresses the node IPs are chosen from, in order of
// preference (raw), and those that stand for the host's interfaces
// (listed): --node-ip for both, else the Node's InternalIP addresses then
// its ExternalIP ones (listed: the InternalIP ones only; an external IP is
// often the address of a NAT in front of the node).
func (c *Config) rawNodeIPs(node *v1.Node) (listed, raw []netip.Addr, warnings []string) {
	if len(c.NodeIPs) > 0 {
		return slices.Clone(c.NodeIPs), slices.Clone(c.NodeIPs), nil
	}
	if node == nil {
		return nil, nil, nil
	}
	internal, w1 := nodeAddresses(node, v1.NodeInternalIP)
	external, w2 := nodeAddresses(node, v1.NodeExternalIP)
	return internal, slices.Concat(internal, external), slices.Concat(w1, w2)
}

// nodeAddresses returns the node's addresses of type typ in status order.
func nodeAddresses(node *v1.Node, typ v1.NodeAddressType) ([]netip.Addr, []string) {
	var ips []netip.Addr
	var warnings []string
	for _, a := range node.Status.Addresses {
		if a.Type != typ {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("Node %s: invalid %s %q; skipped", node.Name, typ, a.Address))
			continue
		}
		if !slices.Contains(ips, ip.Unmap()) {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips, warnings
}

// pickNodeIPs picks the node IPs from raw as GetNodeHostIPs does: the first
// address, then the first of the other family.
func pickNodeIPs(raw []netip.Addr) []netip.Addr {
	if len(raw) == 0 {
		return nil
	}
	out := []netip.Addr{raw[0]}
	for _, ip := range raw[1:] {
		if ip.Is4() != raw[0].Is4() {
			return append(out, ip)
		}
	}
	return out
}

// nodeFamilies returns the families the node proxies, primary first: the
// primary family is that of the first node IP (IPv4 without any), and the
// other one is added when the host has IPv6. kube-proxy refuses an IPv6
// primary family on a host without IPv6 ("no support for primary IP
// family").
func nodeFamilies(ips []netip.Addr, hostIPv6 bool) ([]v1.IPFamily, error) {
	primary := v1.IPv4Protocol
	if len(ips) > 0 && ips[0].Is6() {
		primary = v1.IPv6Protocol
	}
	switch {
	case hostIPv6 && primary == v1.IPv4Protocol:
		return []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}, nil
	case hostIPv6:
		return []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}, nil
	case primary == v1.IPv6Protocol:
		return nil, fmt.Errorf("the primary IP %s is IPv6 but the host's kernel has IPv6 disabled", ips[0])
	}
	return []v1.IPFamily{v1.IPv4Protocol}, nil
}

// inFamilies returns the addresses of ips in families.
func inFamilies(ips []netip.Addr, families []v1.IPFamily) []netip.Addr {
	out := []netip.Addr{}
	for _, ip := range ips {
		if ip.Is4() && slices.Contains(families, v1.IPv4Protocol) || ip.Is6() && slices.Contains(families, v1.IPv6Protocol) {
			out = append(out, ip)
		}
	}
	return out
}

func (c *Config) hostIPv6() bool {
	if c.HostIPv6 == nil {
		return KernelIPv6()
	}
	return c.HostIPv6()
}
