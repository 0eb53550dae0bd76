package parity

import (
	"fmt"
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// managedBy is the managed-by label of the generated slices.
const managedBy = "parity.ipvs-proxy.io"

// hints says which topology hints a family's endpoints carry.
type hints struct{ zone, node bool }

// slices generates the service's EndpointSlices: for each of its families
// (and sometimes the other one, which no proxy uses), zero to six endpoints
// split over one to three slices, sometimes an address in two slices,
// sometimes a rollout's two target ports; rarely an FQDN slice.
func (g *gen) slices(svc *v1.Service) {
	fams := slices.Clone(svc.Spec.IPFamilies)
	if len(fams) == 1 && g.chance(0.1) {
		fams = append(fams, otherFamily(fams[0]))
	}
	var h hints
	if svc.Spec.TrafficDistribution != nil || g.chance(0.05) {
		h = pick(g, []hints{{zone: true}, {zone: true}, {zone: true, node: true}, {node: true}})
	}
	for _, f := range fams {
		g.familySlices(svc, f, h)
	}
	if g.chance(0.03) {
		sl := g.newSlice(svc, discovery.AddressTypeFQDN, "fqdn", g.slicePorts(svc, 0))
		sl.Endpoints = []discovery.Endpoint{{Addresses: []string{"pod.example.test"}}}
		g.c.Slices = append(g.c.Slices, sl)
	}
}

func otherFamily(f v1.IPFamily) v1.IPFamily {
	if f == v1.IPv4Protocol {
		return v1.IPv6Protocol
	}
	return v1.IPv4Protocol
}

// familySlices generates one family's slices.
func (g *gen) familySlices(svc *v1.Service, fam v1.IPFamily, h hints) {
	n := g.r.IntN(7)
	if n == 0 && g.chance(0.3) {
		return // no slice at all
	}
	eps := make([]discovery.Endpoint, n)
	for i := range eps {
		eps[i] = g.endpoint(fam, h)
	}
	k := 1
	if n > 1 {
		k = 1 + g.r.IntN(min(3, n))
	}
	at := discovery.AddressType(fam)
	var out []*discovery.EndpointSlice
	for j := range k {
		shift := int32(0)
		if j > 0 && j == k-1 && g.chance(0.08) {
			shift = 1 // a rollout: the last slice's pods listen on the next port
		}
		sl := g.newSlice(svc, at, fmt.Sprint(j), g.slicePorts(svc, shift))
		sl.Endpoints = eps[j*n/k : (j+1)*n/k]
		out = append(out, sl)
	}
	if n > 0 && g.chance(0.15) {
		out = g.duplicate(svc, at, out)
	}
	g.c.Slices = append(g.c.Slices, out...)
}

// duplicate puts a copy of one endpoint into another slice (a new one when
// there is only one): identical, or, when the original is not terminating,
// terminating. kube-proxy prefers the non-terminating copy; two copies
// that differ otherwise would make its result depend on map order.
func (g *gen) duplicate(svc *v1.Service, at discovery.AddressType, out []*discovery.EndpointSlice) []*discovery.EndpointSlice {
	var from []int
	for i, sl := range out {
		if len(sl.Endpoints) > 0 {
			from = append(from, i)
		}
	}
	a := pick(g, from)
	e := *out[a].Endpoints[g.r.IntN(len(out[a].Endpoints))].DeepCopy()
	if !isTerminating(e.Conditions) && g.chance(0.5) {
		serving := g.chance(0.5)
		e.Conditions = discovery.EndpointConditions{Ready: new(false), Serving: &serving, Terminating: new(true)}
	}
	b := g.r.IntN(len(out))
	if b == a || len(out) == 1 {
		out = append(out, g.newSlice(svc, at, fmt.Sprint(len(out)), slices.Clone(out[a].Ports)))
		b = len(out) - 1
	}
	out[b].Endpoints = append(slices.Clone(out[b].Endpoints), e)
	return out
}

// isTerminating reads the terminating condition as kube-proxy does (nil is
// false).
func isTerminating(c discovery.EndpointConditions) bool {
	return c.Terminating != nil && *c.Terminating
}

// newSlice returns an empty slice of svc with the controller's labels.
func (g *gen) newSlice(svc *v1.Service, at discovery.AddressType, suffix string, ports []discovery.EndpointPort) *discovery.EndpointSlice {
	labels := map[string]string{discovery.LabelServiceName: svc.Name, discovery.LabelManagedBy: managedBy}
	maps.Copy(labels, svc.Labels) // as the EndpointSlice controller copies them
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		labels[v1.IsHeadlessService] = ""
	}
	name := fmt.Sprintf("%s-%s-%s", svc.Name, map[discovery.AddressType]string{discovery.AddressTypeIPv4: "v4", discovery.AddressTypeIPv6: "v6", discovery.AddressTypeFQDN: "dns"}[at], suffix)
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: svc.Namespace, Labels: labels},
		AddressType: at,
		Ports:       ports,
	}
}

// slicePorts returns a slice's ports for the service's ports, numbered by
// their target port (plus shift), sometimes with an extra port no service
// port names, rarely with a nil name (for an unnamed port) or a nil port
// number, both of which kube-proxy skips.
func (g *gen) slicePorts(svc *v1.Service, shift int32) []discovery.EndpointPort {
	var out []discovery.EndpointPort
	for _, sp := range svc.Spec.Ports {
		num := sp.TargetPort.IntVal
		if num == 0 {
			num = 9000 + sp.Port%1000 // a named target port: the pods' number
		}
		p := discovery.EndpointPort{Name: new(sp.Name), Port: new(num + shift), Protocol: new(sp.Protocol)}
		if sp.Name == "" && g.chance(0.03) {
			p.Name = nil
		}
		if g.chance(0.02) {
			p.Port = nil
		}
		out = append(out, p)
	}
	if g.chance(0.04) {
		out = append(out, discovery.EndpointPort{Name: new("unused"), Port: new(int32(9)), Protocol: new(v1.ProtocolTCP)})
	}
	return out
}

// endpoint returns one endpoint of family fam: a fresh pod address (rarely
// a special one, sometimes followed by a second address), random
// conditions, on this node, another or none, with the hints h asks for.
func (g *gen) endpoint(fam v1.IPFamily, h hints) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{g.podAddr(fam)}, Conditions: g.conditions()}
	if g.chance(0.02) {
		e.Addresses[0] = map[v1.IPFamily]string{v1.IPv4Protocol: pick(g, []string{"239.1.1.1", "255.255.255.255"}), v1.IPv6Protocol: "ff05::1"}[fam]
	}
	if g.chance(0.04) {
		e.Addresses = append(e.Addresses, g.podAddr(fam)) // kube-proxy uses the first
	}
	zone := pick(g, zones)
	switch w := g.r.IntN(20); {
	case w < 6:
		e.NodeName = new(NodeName)
		if g.c.Node.Zone != "" {
			zone = g.c.Node.Zone
		}
	case w < 17:
		e.NodeName = new(pick(g, otherNodes))
	}
	e.Zone = &zone
	if h.zone || h.node {
		e.Hints = &discovery.EndpointHints{}
	}
	if h.zone && g.chance(0.92) {
		e.Hints.ForZones = []discovery.ForZone{{Name: zone}}
	}
	if h.node && e.NodeName != nil && g.chance(0.92) {
		e.Hints.ForNodes = []discovery.ForNode{{Name: *e.NodeName}}
	}
	return e
}

// conditions returns mostly coherent conditions (ready; not ready; serving
// and terminating; terminating only; rarely ready and terminating), each
// of which is nil one time in five: nil means ready, serving and not
// terminating to kube-proxy.
func (g *gen) conditions() discovery.EndpointConditions {
	var ready, serving, term bool
	switch w := g.r.IntN(20); {
	case w < 11:
		ready, serving = true, true
	case w < 14:
	case w < 17:
		serving, term = true, true
	case w < 19:
		term = true
	default:
		ready, serving, term = true, true, true
	}
	c := discovery.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &term}
	if g.chance(0.2) {
		c.Ready = nil
	}
	if g.chance(0.2) {
		c.Serving = nil
	}
	if g.chance(0.2) {
		c.Terminating = nil
	}
	return c
}

// podAddr hands out the next pod address: 198.19.N.M or fd00:10:0:N::M.
func (g *gen) podAddr(fam v1.IPFamily) string {
	g.pods++
	n, m := 1+g.pods/250, 1+g.pods%250
	if fam == v1.IPv6Protocol {
		return fmt.Sprintf("fd00:10:0:%x::%x", n, m)
	}
	return fmt.Sprintf("198.19.%d.%d", n, m)
}

// orphanSlice adds a slice whose service does not exist; both proxies
// ignore it.
func (g *gen) orphanSlice() {
	ghost := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ghost", Namespace: g.c.Namespace},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}}}
	sl := g.newSlice(ghost, discovery.AddressTypeIPv4, "0", g.slicePorts(ghost, 0))
	sl.Endpoints = []discovery.Endpoint{g.endpoint(v1.IPv4Protocol, hints{})}
	g.c.Slices = append(g.c.Slices, sl)
}
