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
// kubernetes.io/service-name label). Slices without the label or of
// services not in the input are reported and skipped; ignored slices (see
// ignoredSlice) are skipped silently, as the daemon never receives them.
func groupSlices(services []*v1.Service, slcs []*Slice) (map[types.NamespacedName][]*Slice, []Problem) {
	known := make(map[types.NamespacedName]bool, len(services))
	for _, s := range services {
		if s == nil {
			continue
		}
		known[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = true
	}
	out := make(map[types.NamespacedName][]*Slice, len(services))
	var problems []Problem
	for _, sl := range slcs {
		if ignoredSlice(sl) {
			continue
		}
		name := sl.Service
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

// ignoredSlice reports a slice kube-proxy never reads: of an FQDN address
// type, or labelled service.kubernetes.io/headless (its informer's label
// selector, cmd/kube-proxy/app/server.go labelSelectorNoHeadlessEndpoints;
// the daemon's informers select the same). Build ignores them too, so that
// `ipvs-proxy plan` on a kubectl dump computes what the daemon does.
func ignoredSlice(sl *Slice) bool {
	return sl == nil || sl.AddressType == discovery.AddressTypeFQDN || sl.Headless
}

// famEndpoints are one service port's endpoints, per IP family (index 0
// IPv4, 1 IPv6): kube-proxy proxies each family on its own.
type famEndpoints [2][]endpoint

// collectEndpoints merges the slices of one service into endpoints per
// service port and family. An address listed more than once, in one slice
// or in several, is kept once (see outranks). Endpoints whose address is
// invalid, of the wrong family or of a kind that is nobody's real server
// (see hostaddr.go) are reported and skipped.
func collectEndpoints(slcs []*Slice) (map[portKey]*famEndpoints, []Problem) {
	ordered := slcs
	if len(slcs) > 1 {
		ordered = slices.Clone(slcs)
		slices.SortFunc(ordered, func(a, b *Slice) int { return strings.Compare(a.Name, b.Name) })
	}
	out := map[portKey]*famEndpoints{}
	var problems []Problem
	for _, sl := range ordered {
		if ignoredSlice(sl) {
			continue
		}
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
				if j := findDuplicate(fe[fam], &ep); j >= 0 {
					if ep.outranks(&fe[fam][j]) {
						fe[fam][j] = ep
					}
					continue
				}
				fe[fam] = append(fe[fam], ep)
			}
		}
	}
	for _, fe := range out {
		for fam := range fe {
			fe[fam] = dedupLong(fe[fam])
		}
	}
	return out, problems
}

// scanLimit is the list length up to which a duplicate address is found by
// a scan as it comes; longer lists are sorted once complete (dedupLong).
// Neither costs an allocation: an index map per service port would cost a
// full Build a third more memory at 10 endpoints per service.
const scanLimit = 32

// findDuplicate returns the index in list of ep's address, or -1. It only
// scans short lists: -1 for a long one means "not checked yet".
func findDuplicate(list []endpoint, ep *endpoint) int {
	if len(list) >= scanLimit {
		return -1
	}
	for j := range list {
		if list[j].addr == ep.addr && list[j].port == ep.port {
			return j
		}
	}
	return -1
}

// dedupLong merges the duplicates of a long list (see scanLimit), keeping
// for each address the copy that outranks the others, the first met on a
// tie, and returns the list sorted by address.
func dedupLong(list []endpoint) []endpoint {
	if len(list) < scanLimit {
		return list
	}
	slices.SortStableFunc(list, func(a, b endpoint) int {
		return netip.AddrPortFrom(a.addr, a.port).Compare(netip.AddrPortFrom(b.addr, b.port))
	})
	out := list[:1]
	for _, e := range list[1:] {
		last := &out[len(out)-1]
		switch {
		case e.addr != last.addr || e.port != last.port:
			out = append(out, e)
		case e.outranks(last):
			*last = e
		}
	}
	return out
}

// outranks reports whether e, a later copy of an address already collected
// as other, replaces it. kube-proxy's EndpointSliceCache.addEndpoints lets
// a copy that is not terminating replace any other and a terminating one
// only fill an empty place: the running pod wins over a terminating one
// whose IP it reuses, or over the stale copy of an endpoint moving between
// slices. Which of two non-terminating (or two terminating) copies it keeps
// follows Go's map order, "undefined". Here the choice never depends on
// the slices' order: not terminating, then ready, then serving wins; on a
// tie the copy met first (slices sorted by name) stays.
func (e *endpoint) outranks(other *endpoint) bool { return e.rank() > other.rank() }

func (e *endpoint) rank() int {
	r := 0
	if !e.terminating {
		r += 4
	}
	if e.ready {
		r += 2
	}
	if e.serving {
		r++
	}
	return r
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
func firstPortKey(sl *Slice) portKey {
	for _, p := range sl.Ports {
		if k, ok := slicePortKey(p); ok {
			return k
		}
	}
	return portKey{}
}

// readEndpoint converts one slice endpoint (its conditions are resolved
// already: SliceEndpoint).
func readEndpoint(sl *Slice, e *SliceEndpoint, port uint16) (endpoint, error) {
	if e.NoAddress {
		return endpoint{}, fmt.Errorf("endpoint without addresses; skipped")
	}
	addr, err := netip.ParseAddr(e.Address)
	if err != nil || addr.Zone() != "" {
		return endpoint{}, fmt.Errorf("endpoint address %q is not a valid IP; skipped", e.Address)
	}
	addr = addr.Unmap()
	if why := unusableReason(addr); why != "" {
		// IPVS refuses such destinations; see hostaddr.go.
		return endpoint{}, fmt.Errorf("endpoint address %s %s, which cannot be a real server; skipped", describeAddr(e.Address, addr), why)
	}
	if (sl.AddressType == discovery.AddressTypeIPv4) != addr.Is4() {
		return endpoint{}, fmt.Errorf("endpoint address %s does not match address type %s; skipped", addr, sl.AddressType)
	}
	ep := endpoint{addr: addr, port: port, ready: e.Ready, serving: e.Serving, terminating: e.Terminating}
	if e.NodeName != nil {
		ep.nodeName = *e.NodeName
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

func sliceProblem(sl *Slice, msg string) Problem {
	return Problem{Kind: "EndpointSlice", Namespace: sl.Namespace, Name: sl.Name, Message: msg}
}
