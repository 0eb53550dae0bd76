package addr

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Keywords accepted in --nodeport-addresses, as in kube-proxy v1.37
// (pkg/proxy/apis/config/types.go, NodePortAddresses*; expanded by
// cmd/kube-proxy/app/server.go, expandNodePortAddressKeywords).
const (
	// KeywordAll selects every address (0.0.0.0/0 and ::/0).
	KeywordAll = "all"
	// KeywordPrimary selects the node IP of each family (the primary IPs
	// given to ParseNodePortAddresses); a family without one is not
	// restricted by it.
	KeywordPrimary = "primary"
	// KeywordLocalhost selects loopback addresses. IPVS never serves
	// NodePorts on loopback (kube-proxy supports that only in iptables and
	// nftables mode), so it selects nothing, but it still counts as a value
	// of both families (see NodePortAddresses).
	KeywordLocalhost = "localhost"
)

// NodePortAddresses is a parsed --nodeport-addresses value.
//
// Semantics (kube-proxy v1.37, IPVS mode):
//   - The value is a list of CIDRs and the keywords "all", "primary" and
//     "localhost", in any combination; a keyword given twice is an error
//     (pkg/proxy/apis/config/validation, validateKubeProxyNodePortAddress).
//   - An empty list means "all": kube-proxy's default in IPVS mode (its
//     nftables mode defaults to "primary"; set "primary" explicitly to get
//     that behaviour).
//   - Each family is filtered on its own: a family with no CIDR in the list
//     (after expanding keywords) matches every address of that family, as
//     kube-proxy does (pkg/proxy/util/nodeport_addresses.go,
//     NewNodePortAddresses adds 0.0.0.0/0 or ::/0). So "10.0.0.0/8" on a
//     dual-stack node keeps every IPv6 address; add an IPv6 CIDR, or use
//     "primary" with both primary IPs, to restrict both.
//   - "primary" stands for the node IP of each family; a family without one
//     (kube-proxy's loopback placeholder) adds nothing, so with no node IP
//     at all "primary" restricts nothing.
//   - Loopback, link-local, multicast and unspecified addresses are never
//     selected.
type NodePortAddresses struct {
	v4, v6 []netip.Prefix
}

// NodePortIPs returns the addresses node ports listen on: among host (the
// addresses of the node's interfaces other than the dummy), those that
// values (--nodeport-addresses) select, "primary" standing for nodeIPs (the
// node IP of each family, as kube-proxy's expandNodePortAddressKeywords
// uses them). It is the one rule the daemon (host read from the kernel) and
// `ipvs-proxy plan` (host: the Node's addresses) share. The result is sorted
// and never nil: empty means no node ports (proxier.Node.NodePortIPs).
func NodePortIPs(values []string, nodeIPs, host []netip.Addr) ([]netip.Addr, error) {
	sel, err := ParseNodePortAddresses(values, nodeIPs)
	if err != nil {
		return nil, err
	}
	if out := sel.Select(host); out != nil {
		return out, nil
	}
	return []netip.Addr{}, nil
}

// ParseNodePortAddresses parses the values of --nodeport-addresses. primary
// are the node IPs the keyword "primary" stands for (at most one per family;
// loopback ones are skipped, as kube-proxy skips its placeholder).
func ParseNodePortAddresses(values []string, primary []netip.Addr) (NodePortAddresses, error) {
	if len(values) == 0 {
		values = []string{KeywordAll}
	}
	var n NodePortAddresses
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if seen[v] && isKeyword(v) {
			return NodePortAddresses{}, fmt.Errorf("keyword %q given twice", v)
		}
		seen[v] = true
		prefixes, err := expand(v, primary)
		if err != nil {
			return NodePortAddresses{}, err
		}
		for _, p := range prefixes {
			if p.Addr().Is4() {
				n.v4 = append(n.v4, p)
			} else {
				n.v6 = append(n.v6, p)
			}
		}
	}
	for _, ps := range []*[]netip.Prefix{&n.v4, &n.v6} {
		slices.SortFunc(*ps, comparePrefix)
		*ps = slices.Compact(*ps)
	}
	return n, nil
}

func isKeyword(v string) bool {
	return v == KeywordAll || v == KeywordPrimary || v == KeywordLocalhost
}

// expand turns one value into prefixes.
func expand(v string, primary []netip.Addr) ([]netip.Prefix, error) {
	switch v {
	case KeywordAll:
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	case KeywordLocalhost:
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, nil
	case KeywordPrimary:
		var out []netip.Prefix
		for _, a := range primary {
			if a = a.Unmap(); a.IsValid() && !a.IsLoopback() {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		return out, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a CIDR nor one of the keywords %q, %q, %q",
			v, KeywordPrimary, KeywordLocalhost, KeywordAll)
	}
	return []netip.Prefix{p.Masked()}, nil
}

// Select returns the addresses the NodePorts listen on among the node's
// addresses, sorted and without duplicates. It is pure.
func (n NodePortAddresses) Select(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		ps := n.v4
		if a.Is6() {
			ps = n.v6
		}
		if len(ps) == 0 || slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) }) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// String formats the parsed value per family, "*" meaning every address.
func (n NodePortAddresses) String() string {
	f := func(ps []netip.Prefix) string {
		if len(ps) == 0 {
			return "*"
		}
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return strings.Join(s, ",")
	}
	return "ipv4=" + f(n.v4) + " ipv6=" + f(n.v6)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
