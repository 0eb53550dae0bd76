package proxier

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Object builders with mutators, so each test case states only what matters.

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// makeService returns a ClusterIP service 198.18.0.10 with one port
// "http" 80/TCP, then applies the mutators.
func makeService(ns, name string, mut ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(epoch)},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  "198.18.0.10",
			ClusterIPs: []string{"198.18.0.10"},
			Ports:      []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
		},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func clusterIPs(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips }
}

func nodePort(port int32) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = port }
}

func loadBalancer(nodePort int32, ips ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = nodePort
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
		}
	}
}

func annotate(kv ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func externalLocal(s *v1.Service) {
	s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
}
func internalLocal(s *v1.Service) {
	s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
}

// makeSlice returns an IPv4 slice of service ns/svc with port "http" 8080/TCP
// and the given endpoints.
func makeSlice(ns, svc, name string, eps []discovery.Endpoint, mut ...func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	sl := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discovery.LabelServiceName: svc}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
		Endpoints:   eps,
	}
	if len(eps) > 0 && strings.Contains(eps[0].Addresses[0], ":") {
		sl.AddressType = discovery.AddressTypeIPv6
	}
	for _, m := range mut {
		m(sl)
	}
	return sl
}

// ep returns a ready endpoint on node-b (remote) with the mutators applied.
func ep(ip string, mut ...func(*discovery.Endpoint)) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("node-b"),
		Conditions: discovery.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}
	for _, m := range mut {
		m(&e)
	}
	return e
}

func onNode(n string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) { e.NodeName = ptr.To(n) }
}

// terminating marks an endpoint terminating; serving says whether it still
// passes its readiness probe.
func terminating(serving bool) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(serving), Terminating: ptr.To(true)}
	}
}

func notReady(e *discovery.Endpoint) {
	e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
}

func zoneHint(z ...string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discovery.EndpointHints{}
		}
		for _, n := range z {
			e.Hints.ForZones = append(e.Hints.ForZones, discovery.ForZone{Name: n})
		}
	}
}

func nodeHint(n ...string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discovery.EndpointHints{}
		}
		for _, x := range n {
			e.Hints.ForNodes = append(e.Hints.ForNodes, discovery.ForNode{Name: x})
		}
	}
}

// testNode is node-a in zone-a with one address per family.
func testNode() Node {
	return Node{Name: "node-a", Labels: map[string]string{v1.LabelTopologyZone: "zone-a"},
		IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("fd00::1:1")}}
}

// Behaviour assertions over a State.

// vsKey parses "tcp 198.18.0.10:80".
func vsKey(t testing.TB, s string) model.VSKey {
	t.Helper()
	proto, ap, _ := strings.Cut(s, " ")
	p, err := model.ParseProtocol(proto)
	if err != nil {
		t.Fatalf("bad key %q: %v", s, err)
	}
	a := netip.MustParseAddrPort(ap)
	return model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: p}
}

func keyStrings(ks []model.RSKey) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, k.String())
	}
	return out
}

// expectRoute asserts that a new connection to vs goes to exactly the given
// backends (none means the virtual server exists without usable backends).
func expectRoute(t testing.TB, st *model.State, vs string, backends ...string) {
	t.Helper()
	got, ok := st.Route(vsKey(t, vs))
	if !ok {
		t.Errorf("no virtual server %s; have:\n%s", vs, strings.Join(st.IPVSLines(), "\n"))
		return
	}
	slices.Sort(backends)
	if g := keyStrings(got); !slices.Equal(g, backends) {
		t.Errorf("new connections to %s go to %v, want %v", vs, g, backends)
	}
}

// expectDraining asserts which backends of vs only finish existing
// connections (weight 0).
func expectDraining(t testing.TB, st *model.State, vs string, backends ...string) {
	t.Helper()
	slices.Sort(backends)
	if g := keyStrings(st.Draining(vsKey(t, vs))); !slices.Equal(g, backends) {
		t.Errorf("draining backends of %s are %v, want %v", vs, g, backends)
	}
}

// expectNoVS asserts that no virtual server exists for vs.
func expectNoVS(t testing.TB, st *model.State, vs string) {
	t.Helper()
	if _, ok := st.Services[vsKey(t, vs)]; ok {
		t.Errorf("unexpected virtual server %s", vs)
	}
}

func expectAddresses(t testing.TB, st *model.State, addrs ...string) {
	t.Helper()
	var got []string
	for _, a := range st.SortedAddresses() {
		got = append(got, a.String())
	}
	want := slices.Clone(addrs)
	slices.SortFunc(want, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("bound addresses %v, want %v", got, want)
	}
}

func expectProblems(t testing.TB, problems []Problem, substrings ...string) {
	t.Helper()
	if len(problems) != len(substrings) {
		t.Errorf("got %d problems, want %d: %v", len(problems), len(substrings), problems)
		return
	}
	for i, p := range problems {
		if !strings.Contains(p.String(), substrings[i]) {
			t.Errorf("problem %d = %q, want it to contain %q", i, p, substrings[i])
		}
	}
}
