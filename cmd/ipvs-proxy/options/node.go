package options

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// Node describes the node named name to proxier.Build. node is its Node
// object and may be nil when the addresses come from --node-ip or
// --bind-address. The addresses are, in order of preference: --node-ip;
// else the Node's InternalIP addresses, with a specific --bind-address
// replacing those of its family (kube-proxy's primary-IP override). NodePort
// addresses are those filtered by nodePortAddresses. Warnings report unusable
// addresses on the Node; the error says the node has no address at all.
func (c *Config) Node(name string, node *v1.Node) (proxier.Node, []string, error) {
	out := proxier.Node{Name: name}
	var warnings []string
	if node != nil {
		out.Labels = maps.Clone(node.Labels)
	}
	switch {
	case len(c.NodeIPs) > 0:
		out.IPs = slices.Clone(c.NodeIPs)
	default:
		if node != nil {
			out.IPs, warnings = internalIPs(node)
		}
		if c.BindIP.IsValid() {
			out.IPs = slices.DeleteFunc(out.IPs, func(ip netip.Addr) bool { return ip.Is4() == c.BindIP.Is4() })
			out.IPs = append([]netip.Addr{c.BindIP}, out.IPs...)
		}
	}
	if len(out.IPs) == 0 {
		if node == nil {
			return proxier.Node{}, warnings, fmt.Errorf("node %q: no addresses: give --node-ip", name)
		}
		return proxier.Node{}, warnings, fmt.Errorf("node %q has no InternalIP address: give --node-ip", name)
	}
	out.NodePortIPs = c.nodePortIPs(out.IPs)
	return out, warnings, nil
}

// internalIPs returns the node's InternalIP addresses in status order.
func internalIPs(node *v1.Node) ([]netip.Addr, []string) {
	var ips []netip.Addr
	var warnings []string
	for _, a := range node.Status.Addresses {
		if a.Type != v1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("Node %s: invalid InternalIP %q; skipped", node.Name, a.Address))
			continue
		}
		if !slices.Contains(ips, ip.Unmap()) {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips, warnings
}

// nodePortIPs filters the node's addresses by nodePortAddresses; nil (no
// filter) means all of them. "primary" selects the first address of each
// family.
func (c *Config) nodePortIPs(ips []netip.Addr) []netip.Addr {
	if !c.NodePortPrimary && len(c.NodePortCIDRs) == 0 {
		return nil
	}
	out := []netip.Addr{} // non-nil: an empty filter result means no NodePorts
	var seen4, seen6 bool
	for _, ip := range ips {
		primary := (ip.Is4() && !seen4) || (ip.Is6() && !seen6)
		seen4, seen6 = seen4 || ip.Is4(), seen6 || ip.Is6()
		if (c.NodePortPrimary && primary) || slices.ContainsFunc(c.NodePortCIDRs, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			out = append(out, ip)
		}
	}
	return out
}
