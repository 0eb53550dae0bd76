package proxier

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// endpoint is one backend of one service port, as read from an
// EndpointSlice, with the conditions the weight policy needs.
type endpoint struct {
	addr        netip.Addr
	port        uint16
	nodeName    string
	ready       bool
	serving     bool
	terminating bool
	zoneHints   []string
	nodeHints   []string
}

// isServingTerminating reports an endpoint that is shutting down but still
// answers: the KEP-1669 fallback when no endpoint is ready.
func (e *endpoint) isServingTerminating() bool { return e.serving && e.terminating }

// portKey matches EndpointSlice ports to service ports, as kube-proxy does:
// by port name and protocol.
type portKey struct {
	name  string
	proto v1.Protocol
}

// groupSlices indexes EndpointSlices by the service they belong to (the
// kubernetes.io/service-name label). Slices without the label, of an FQDN
// address type, of services not in the input or of another proxy are
// skipped; the first two and the third are reported.
func groupSlices(services []*v1.Service, slcs []*discovery.EndpointSlice) (map[types.NamespacedName][]*discovery.EndpointSlice, []Problem) {
	known := make(map[types.NamespacedName]bool, len(services))
	for _, s := range services {
		if s == nil {
			continue
		}
		known[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = true
	}
	out := make(map[types.NamespacedName][]*discovery.EndpointSlice, len(services))
	var problems []Problem
	for _, sl := range slcs {
		if sl == nil || sl.AddressType == discovery.AddressTypeFQDN {
			continue
		}
		name := sl.Labels[discovery.LabelServiceName]
		if name == "" {
			problems = append(problems, sliceProblem(sl, "has no "+discovery.LabelServiceName+" label; ignored"))
			continue
		}
		key := types.NamespacedName{Namespace: sl.Namespace, Name: name}
		if !known[key] {
			problems = append(problems, sliceProblem(sl, "belongs to unknown service "+key.String()+"; ignored"))
			continue
		}
		out[key] = append(out[key], sl)
	}
	return out, problems
}

// famEndpoints are one service port's endpoints, per IP family (index 0
// IPv4, 1 IPv6): kube-proxy proxies each family on its own.
type famEndpoints [2][]endpoint

// collectEndpoints merges the slices of one service into endpoints per
// service port and family. An address that appears in several slices is
// kept once, preferring a ready copy (as kube-proxy's endpoint slice cache
// does). Endpoints whose address is invalid, of the wrong family or of a
// kind that is nobody's real server (see hostaddr.go) are reported and
// skipped.
func collectEndpoints(slcs []*discovery.EndpointSlice) (map[portKey]*famEndpoints, []Problem) {
	ordered := slcs
	if len(slcs) > 1 {
		ordered = slices.Clone(slcs)
		slices.SortFunc(ordered, func(a, b *discovery.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	}
	out := map[portKey]*famEndpoints{}
	// Duplicates across slices are looked up in a map; within one slice
	// they are rare and merged when real servers are built.
	var seen map[portKey]map[netip.AddrPort]int
	if len(ordered) > 1 {
		seen = map[portKey]map[netip.AddrPort]int{}
	}
	var problems []Problem
	for _, sl := range ordered {
		fam := 0
		if sl.AddressType == discovery.AddressTypeIPv6 {
			fam = 1
		}
		first := firstPortKey(sl)
		for _, p := range sl.Ports {
			k, ok := slicePortKey(p)
			if !ok {
				continue
			}
			fe := out[k]
			if fe == nil {
				fe = &famEndpoints{}
				out[k] = fe
			}
			if fe[fam] == nil {
				fe[fam] = make([]endpoint, 0, len(sl.Endpoints))
			}
			for i := range sl.Endpoints {
				ep, err := readEndpoint(sl, &sl.Endpoints[i], uint16(*p.Port))
				if err != nil {
					if k == first {
						problems = append(problems, sliceProblem(sl, err.Error()))
					}
					continue
				}
				if seen != nil && mergeDuplicate(seen, k, fe, fam, ep) {
					continue
				}
				fe[fam] = append(fe[fam], ep)
			}
		}
	}
	return out, problems
}

// mergeDuplicate records ep in seen and reports whether it duplicates an
// endpoint already collected (then a ready copy replaces a not-ready one).
func mergeDuplicate(seen map[portKey]map[netip.AddrPort]int, k portKey, fe *famEndpoints, fam int, ep endpoint) bool {
	m := seen[k]
	if m == nil {
		m = map[netip.AddrPort]int{}
		seen[k] = m
	}
	ap := netip.AddrPortFrom(ep.addr, ep.port)
	if j, dup := m[ap]; dup {
		if ep.ready && !fe[fam][j].ready {
			fe[fam][j] = ep
		}
		return true
	}
	m[ap] = len(fe[fam])
	return false
}

// slicePortKey is the key of a slice port; ok is false for a port without a
// valid number.
func slicePortKey(p discovery.EndpointPort) (portKey, bool) {
	if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
		return portKey{}, false
	}
	k := portKey{proto: v1.ProtocolTCP}
	if p.Name != nil {
		k.name = *p.Name
	}
	if p.Protocol != nil {
		k.proto = *p.Protocol
	}
	return k, true
}

// firstPortKey is the key of a slice's first valid port: endpoint problems
// are reported once per slice endpoint, not once per port.
func firstPortKey(sl *discovery.EndpointSlice) portKey {
	for _, p := range sl.Ports {
		if k, ok := slicePortKey(p); ok {
			return k
		}
	}
	return portKey{}
}

// readEndpoint converts one slice endpoint. Conditions default as the API
// documents: ready nil means ready, serving nil means ready's value,
// terminating nil means false.
func readEndpoint(sl *discovery.EndpointSlice, e *discovery.Endpoint, port uint16) (endpoint, error) {
	if len(e.Addresses) == 0 {
		return endpoint{}, fmt.Errorf("endpoint without addresses; skipped")
	}
	addr, err := netip.ParseAddr(e.Addresses[0])
	if err != nil || addr.Zone() != "" {
		return endpoint{}, fmt.Errorf("endpoint address %q is not a valid IP; skipped", e.Addresses[0])
	}
	addr = addr.Unmap()
	if why := unusableReason(addr); why != "" {
		// IPVS refuses such destinations; see hostaddr.go.
		return endpoint{}, fmt.Errorf("endpoint address %s %s, which cannot be a real server; skipped", describeAddr(e.Addresses[0], addr), why)
	}
	if (sl.AddressType == discovery.AddressTypeIPv4) != addr.Is4() {
		return endpoint{}, fmt.Errorf("endpoint address %s does not match address type %s; skipped", addr, sl.AddressType)
	}
	ep := endpoint{addr: addr, port: port, ready: true}
	if e.NodeName != nil {
		ep.nodeName = *e.NodeName
	}
	if c := e.Conditions.Ready; c != nil {
		ep.ready = *c
	}
	ep.serving = ep.ready
	if c := e.Conditions.Serving; c != nil {
		ep.serving = *c
	}
	if c := e.Conditions.Terminating; c != nil {
		ep.terminating = *c
	}
	if h := e.Hints; h != nil {
		for _, z := range h.ForZones {
			ep.zoneHints = append(ep.zoneHints, z.Name)
		}
		for _, n := range h.ForNodes {
			ep.nodeHints = append(ep.nodeHints, n.Name)
		}
	}
	return ep, nil
}

func sliceProblem(sl *discovery.EndpointSlice, msg string) Problem {
	return Problem{Kind: "EndpointSlice", Namespace: sl.Namespace, Name: sl.Name, Message: msg}
}
