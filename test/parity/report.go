package parity

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Verdict is one seed's outcome.
type Verdict struct {
	// Explained counts the differences each intended rule explained.
	Explained map[string]int
	// Unexplained are the differences no rule explains: the failures.
	Unexplained []Difference
}

// Judge sorts the differences into explained and unexplained.
func Judge(diffs []Difference, w *World) Verdict {
	v := Verdict{Explained: map[string]int{}}
	for i := range diffs {
		if in := Explain(&diffs[i], w); in != nil {
			v.Explained[in.Name]++
			continue
		}
		v.Unexplained = append(v.Unexplained, diffs[i])
	}
	return v
}

// serviceOf returns the service a difference is about, or nil.
func (w *World) serviceOf(d *Difference) *v1.Service {
	var refs []Ref
	if d.Object == ObjAddress {
		refs = w.AddrRefs(d.Addr.Addr())
	} else {
		refs = w.Lookup(d.VS)
	}
	if len(refs) == 0 {
		return nil
	}
	return refs[0].Service
}

// Report prints the unexplained differences service by service: the
// service, each difference with the open issue it most likely belongs to,
// both daemons' virtual servers of the service, and its endpoints.
func Report(v Verdict, kp, ip *Snapshot, w *World) string {
	groups := map[string][]Difference{}
	var order []string
	svcs := map[string]*v1.Service{}
	for _, d := range v.Unexplained {
		k := "(no service)"
		if s := w.serviceOf(&d); s != nil {
			k = key(s)
			svcs[k] = s
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], d)
	}
	slices.Sort(order)
	var b strings.Builder
	for _, k := range order {
		s := svcs[k]
		fmt.Fprintf(&b, "service %s", k)
		if s != nil {
			fmt.Fprintf(&b, ": %s", describe(s))
		}
		b.WriteString("\n  differences:\n")
		for _, d := range groups[k] {
			fmt.Fprintf(&b, "    - %s   [likely %s]\n", d, OpenGap(&d, w))
		}
		if s == nil {
			continue
		}
		for _, snap := range []*Snapshot{kp, ip} {
			fmt.Fprintf(&b, "  %s:\n", snap.Daemon)
			for _, line := range w.serviceLines(s, snap) {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		}
		b.WriteString("  endpoints:\n")
		for _, line := range w.endpointLines(s) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	return b.String()
}

// serviceLines prints a snapshot's virtual servers of service s and the
// addresses of s it bound.
func (w *World) serviceLines(s *v1.Service, snap *Snapshot) []string {
	var out []string
	for i := range snap.VirtualServers {
		vs := &snap.VirtualServers[i]
		if slices.ContainsFunc(w.Lookup(vs.VSKey), func(r Ref) bool { return r.Service == s }) {
			out = append(out, vs.Lines()...)
		}
	}
	var bound []string
	for _, a := range snap.Addresses {
		if slices.ContainsFunc(w.AddrRefs(a.Addr()), func(r Ref) bool { return r.Service == s }) {
			bound = append(bound, a.String())
		}
	}
	out = append(out, fmt.Sprintf("bound on %s: %v", DummyInterface, bound))
	return out
}

// describe prints a service's settings that matter to a proxy on one line.
func describe(s *v1.Service) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Spec.Type)
	if p := s.Spec.IPFamilyPolicy; p != nil {
		fmt.Fprintf(&b, " %s", *p)
	}
	fmt.Fprintf(&b, " %v ports", s.Spec.ClusterIPs)
	for _, p := range s.Spec.Ports {
		fmt.Fprintf(&b, " %q=%d/%s", p.Name, p.Port, p.Protocol)
		if p.NodePort != 0 {
			fmt.Fprintf(&b, "(node %d)", p.NodePort)
		}
	}
	fmt.Fprintf(&b, " eTP=%s", s.Spec.ExternalTrafficPolicy)
	if p := s.Spec.InternalTrafficPolicy; p != nil {
		fmt.Fprintf(&b, " iTP=%s", *p)
	}
	if s.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		fmt.Fprintf(&b, " affinity=ClientIP")
		if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			fmt.Fprintf(&b, "(%ds)", *c.ClientIP.TimeoutSeconds)
		}
	}
	if len(s.Spec.ExternalIPs) > 0 {
		fmt.Fprintf(&b, " externalIPs=%v", s.Spec.ExternalIPs)
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		fmt.Fprintf(&b, " ingress=%s%s", ing.IP, ing.Hostname)
		if ing.IPMode != nil {
			fmt.Fprintf(&b, "(%s)", *ing.IPMode)
		}
	}
	if d := s.Spec.TrafficDistribution; d != nil {
		fmt.Fprintf(&b, " trafficDistribution=%s", *d)
	}
	if len(s.Labels) > 0 || len(s.Annotations) > 0 {
		fmt.Fprintf(&b, " labels=%v annotations=%v", s.Labels, s.Annotations)
	}
	return b.String()
}

// endpointLines prints the service's slices and endpoints with their
// conditions exactly as stored (nil shown as nil).
func (w *World) endpointLines(s *v1.Service) []string {
	var out []string
	for _, sl := range w.Slices {
		if sl.Namespace != s.Namespace || sl.Labels["kubernetes.io/service-name"] != s.Name {
			continue
		}
		var ports []string
		for _, p := range sl.Ports {
			ports = append(ports, fmt.Sprintf("%s=%s/%s", ptrString(p.Name), ptrString(p.Port), ptrString(p.Protocol)))
		}
		out = append(out, fmt.Sprintf("slice %s %s ports %v", sl.Name, sl.AddressType, ports))
		for _, e := range sl.Endpoints {
			line := fmt.Sprintf("  %v node=%s ready=%s serving=%s terminating=%s", e.Addresses, ptrString(e.NodeName),
				ptrString(e.Conditions.Ready), ptrString(e.Conditions.Serving), ptrString(e.Conditions.Terminating))
			if h := e.Hints; h != nil {
				line += fmt.Sprintf(" zoneHints=%v nodeHints=%v", h.ForZones, h.ForNodes)
			}
			out = append(out, line)
		}
	}
	return out
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
