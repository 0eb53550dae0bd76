package parity

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testWorld: service web (NodePort, iTP Local, cluster IP 198.18.1.10,
// http 80/TCP, node port 30001) with a ready endpoint on another node and
// a local one that is terminating and not serving; service hashed
// (annotated sh, 198.18.1.11:443).
func testWorld() *World {
	local := v1.ServiceInternalTrafficPolicyLocal
	web := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: v1.ServiceSpec{
		Type: v1.ServiceTypeNodePort, ClusterIPs: []string{"198.18.1.10"}, InternalTrafficPolicy: &local,
		Ports: []v1.ServicePort{{Name: "http", Port: 80, NodePort: 30001, Protocol: v1.ProtocolTCP}},
	}}
	hashed := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hashed", Annotations: map[string]string{annotationScheduler: "sh"}},
		Spec: v1.ServiceSpec{ClusterIPs: []string{"198.18.1.11"}, Ports: []v1.ServicePort{{Port: 443, Protocol: v1.ProtocolTCP}}}}
	slice := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1", Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(v1.ProtocolTCP)}},
		Endpoints: []discovery.Endpoint{
			{Addresses: []string{"198.19.1.2"}, NodeName: new("elsewhere")},
			{Addresses: []string{"198.19.1.3"}, NodeName: new(NodeName),
				Conditions: discovery.EndpointConditions{Ready: new(false), Serving: new(false), Terminating: new(true)}},
		},
	}
	return &World{Cluster: &Cluster{}, Services: []*v1.Service{web, hashed}, Slices: []*discovery.EndpointSlice{slice},
		Host: []netip.Addr{NodeIPv4, netip.MustParseAddr("127.0.0.1")}}
}

func rsDiff(side Side, vsKey string, r RealServer) Difference {
	v := vs(vsKey, "rr", 0, 0, r)
	d := Difference{Object: ObjRealServer, Side: side, VS: v.VSKey, RS: r.RSKey}
	if side == OnlyKubeProxy {
		d.KubeProxyRS = &r
	} else {
		d.IPVSProxyRS = &r
	}
	return d
}

func vsDiff(side Side, field string, kp, ip *VirtualServer) Difference {
	d := Difference{Object: ObjVirtualServer, Side: side, Field: field, KubeProxyVS: kp, IPVSProxyVS: ip}
	if kp != nil {
		d.VS = kp.VSKey
	} else {
		d.VS = ip.VSKey
	}
	return d
}

func addrDiff(side Side, p string) Difference {
	return Difference{Object: ObjAddress, Side: side, Addr: netip.MustParsePrefix(p)}
}

func ptr[T any](v T) *T { return &v }

// TestExplain: each intended rule explains its own difference and no
// look-alike.
func TestExplain(t *testing.T) {
	w := testWorld()
	for _, tc := range []struct {
		name string
		d    Difference
		want string // the rule's name; "" for unexplained
	}{
		{"terminating endpoint at weight 0", rsDiff(OnlyIPVSProxy, "TCP 198.18.1.10:80", rs("198.19.1.3:8080", 0)), "terminating-at-weight-0"},
		{"terminating endpoint at weight 1", rsDiff(OnlyIPVSProxy, "TCP 198.18.1.10:80", rs("198.19.1.3:8080", 1)), ""},
		{"ready endpoint at weight 0", rsDiff(OnlyIPVSProxy, "TCP 198.18.1.10:80", rs("198.19.1.2:8080", 0)), ""},
		{"terminating endpoint, other port", rsDiff(OnlyIPVSProxy, "TCP 198.18.1.10:80", rs("198.19.1.3:9090", 0)), ""},
		{"sh fallback flag", vsDiff(Both, "flags", ptr(vs("TCP 198.18.1.99:80", "sh", 0, 0)), ptr(vs("TCP 198.18.1.99:80", "sh", FlagSched1, 0))), "hash-fallback-flag"},
		{"mh port flag missing", vsDiff(Both, "flags", ptr(vs("TCP 198.18.1.99:80", "mh", FlagSched2, 0)), ptr(vs("TCP 198.18.1.99:80", "mh", FlagSched1, 0))), ""},
		{"rr with flag-1", vsDiff(Both, "flags", ptr(vs("TCP 198.18.1.99:80", "rr", 0, 0)), ptr(vs("TCP 198.18.1.99:80", "rr", FlagSched1, 0))), ""},
		{"host address bound by kube-proxy", addrDiff(OnlyKubeProxy, "198.19.255.15/32"), "host-address-not-bound"},
		{"service address bound by kube-proxy only", addrDiff(OnlyKubeProxy, "198.18.1.10/32"), ""},
		{"host address bound by ipvs-proxy only", addrDiff(OnlyIPVSProxy, "198.19.255.15/32"), ""},
		{"loopback virtual server", vsDiff(OnlyKubeProxy, "", ptr(vs("TCP 127.0.0.53:80", "rr", 0, 0)), nil), "special-address-refused"},
		{"multicast address", addrDiff(OnlyKubeProxy, "224.1.1.1/32"), "special-address-refused"},
		{"broadcast real server", rsDiff(OnlyKubeProxy, "TCP 198.18.1.10:80", rs("255.255.255.255:8080", 1)), "special-address-refused"},
		{"special virtual server only ipvs-proxy has", vsDiff(OnlyIPVSProxy, "", nil, ptr(vs("TCP 127.0.0.53:80", "rr", 0, 0))), ""},
		{"ordinary virtual server", vsDiff(OnlyKubeProxy, "", ptr(vs("TCP 198.18.1.10:80", "rr", 0, 0)), nil), ""},
		{"iTP Local fallback on the cluster IP", rsDiff(OnlyKubeProxy, "TCP 198.18.1.10:80", rs("198.19.1.2:8080", 1)), "internal-local-no-fallback"},
		{"the same on the node port", rsDiff(OnlyKubeProxy, "TCP 198.19.255.15:30001", rs("198.19.1.2:8080", 1)), ""},
		{"annotated scheduler", vsDiff(Both, "scheduler", ptr(vs("TCP 198.18.1.11:443", "rr", 0, 0)), ptr(vs("TCP 198.18.1.11:443", "sh", FlagSched1, 0))), "scheduler-annotation"},
		{"scheduler without annotation", vsDiff(Both, "scheduler", ptr(vs("TCP 198.18.1.10:80", "rr", 0, 0)), ptr(vs("TCP 198.18.1.10:80", "sh", FlagSched1, 0))), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if in := Explain(&tc.d, w); in != nil {
				got = in.Name
			}
			if got != tc.want {
				t.Errorf("%s: explained by %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

// TestRefusedLocalEndpointFallsBack: a Service with externalTrafficPolicy
// Local whose only local endpoint is multicast has, with ipvs-proxy, the
// cluster's endpoints on its load-balancer IP and node port (the endpoint
// was refused, so none is local); kube-proxy leaves them empty.
func TestRefusedLocalEndpointFallsBack(t *testing.T) {
	lb := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lb"}, Spec: v1.ServiceSpec{
		Type: v1.ServiceTypeLoadBalancer, ClusterIPs: []string{"198.18.1.20"}, ExternalTrafficPolicy: v1.ServiceExternalTrafficPolicyLocal,
		Ports: []v1.ServicePort{{Name: "http", Port: 80, NodePort: 30005, Protocol: v1.ProtocolTCP}},
	}, Status: v1.ServiceStatus{LoadBalancer: v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: "198.19.251.3"}}}}}
	local := func(a string) discovery.Endpoint {
		return discovery.Endpoint{Addresses: []string{a}, NodeName: new(NodeName)}
	}
	remote := discovery.Endpoint{Addresses: []string{"198.19.1.90"}, NodeName: new("elsewhere")}
	world := func(etp v1.ServiceExternalTrafficPolicy, eps ...discovery.Endpoint) *World {
		svc := lb.DeepCopy()
		svc.Spec.ExternalTrafficPolicy = etp
		return &World{Cluster: &Cluster{}, Services: []*v1.Service{svc}, Slices: []*discovery.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "lb-1", Labels: map[string]string{discovery.LabelServiceName: "lb"}},
			AddressType: discovery.AddressTypeIPv4,
			Ports:       []discovery.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(v1.ProtocolTCP)}},
			Endpoints:   eps,
		}}}
	}
	const eTPLocal = v1.ServiceExternalTrafficPolicyLocal
	for _, tc := range []struct {
		name string
		w    *World
		d    Difference
		want string
	}{
		{"load-balancer IP", world(eTPLocal, local("239.1.1.1"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.251.3:80", rs("198.19.1.90:8080", 1)), "special-address-refused"},
		{"node port", world(eTPLocal, local("239.1.1.1"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.255.15:30005", rs("198.19.1.90:8080", 1)), "special-address-refused"},
		{"an ordinary local endpoint too", world(eTPLocal, local("239.1.1.1"), local("198.19.1.91"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.251.3:80", rs("198.19.1.90:8080", 1)), ""},
		{"no local endpoint at all", world(eTPLocal, remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.251.3:80", rs("198.19.1.90:8080", 1)), ""},
		{"externalTrafficPolicy Cluster", world(v1.ServiceExternalTrafficPolicyCluster, local("239.1.1.1"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.251.3:80", rs("198.19.1.90:8080", 1)), ""},
		{"the cluster IP", world(eTPLocal, local("239.1.1.1"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.18.1.20:80", rs("198.19.1.90:8080", 1)), ""},
		{"not an endpoint", world(eTPLocal, local("239.1.1.1"), remote), rsDiff(OnlyIPVSProxy, "TCP 198.19.251.3:80", rs("198.19.1.99:8080", 1)), ""},
		{"only kube-proxy has it", world(eTPLocal, local("239.1.1.1"), remote), rsDiff(OnlyKubeProxy, "TCP 198.19.251.3:80", rs("198.19.1.90:8080", 1)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if in := Explain(&tc.d, tc.w); in != nil {
				got = in.Name
			}
			if got != tc.want {
				t.Errorf("%s: explained by %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

// TestRefusedEndpointTopology: a ready endpoint without zone hints turns
// kube-proxy's topology off; when it is on a special address ipvs-proxy
// skipped it, applies the hints, and gives the other zone's endpoints no
// new connections.
func TestRefusedEndpointTopology(t *testing.T) {
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: v1.ServiceSpec{
		ClusterIPs: []string{"198.18.1.30"}, Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
	}}
	ep := func(a string, zones ...string) discovery.Endpoint {
		e := discovery.Endpoint{Addresses: []string{a}, NodeName: new("elsewhere")}
		if len(zones) > 0 {
			e.Hints = &discovery.EndpointHints{}
			for _, z := range zones {
				e.Hints.ForZones = append(e.Hints.ForZones, discovery.ForZone{Name: z})
			}
		}
		return e
	}
	world := func(zone string, eps ...discovery.Endpoint) *World {
		return &World{Cluster: &Cluster{Node: NodeSpec{Zone: zone}}, Services: []*v1.Service{svc}, Slices: []*discovery.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1", Labels: map[string]string{discovery.LabelServiceName: "web"}},
			AddressType: discovery.AddressTypeIPv4,
			Ports:       []discovery.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(v1.ProtocolTCP)}},
			Endpoints:   eps,
		}}}
	}
	weight := func(addr string, kp, ip int) Difference {
		d := rsDiff(Both, "TCP 198.18.1.30:80", rs(addr, kp))
		d.Field, d.KubeProxyRS, d.IPVSProxyRS = "weight", ptr(rs(addr, kp)), ptr(rs(addr, ip))
		return d
	}
	seed28 := []discovery.Endpoint{ep("255.255.255.255"), ep("198.19.1.16", "zone-c"), ep("198.19.1.17", "zone-b")}
	for _, tc := range []struct {
		name string
		w    *World
		d    Difference
		want string
	}{
		{"the other zone's endpoint at weight 0", world("zone-b", seed28...), weight("198.19.1.16:8080", 1, 0), "special-address-refused"},
		{"the other zone's endpoint left out", world("zone-b", seed28...), rsDiff(OnlyKubeProxy, "TCP 198.18.1.30:80", rs("198.19.1.16:8080", 1)), "special-address-refused"},
		{"the zone's own endpoint", world("zone-b", seed28...), weight("198.19.1.17:8080", 1, 0), ""},
		{"the other way round", world("zone-b", seed28...), weight("198.19.1.16:8080", 0, 1), ""},
		{"the node has no zone", world("", seed28...), weight("198.19.1.16:8080", 1, 0), ""},
		{"no special endpoint", world("zone-b", seed28[1:]...), weight("198.19.1.16:8080", 1, 0), ""},
		{"the special endpoint has a hint", world("zone-b", ep("255.255.255.255", "zone-a"), seed28[1], seed28[2]), weight("198.19.1.16:8080", 1, 0), ""},
		{"an ordinary endpoint without hints", world("zone-b", seed28[0], seed28[1], seed28[2], ep("198.19.1.18")), weight("198.19.1.16:8080", 1, 0), ""},
		{"no endpoint for the node's zone", world("zone-a", seed28...), weight("198.19.1.16:8080", 1, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if in := Explain(&tc.d, tc.w); in != nil {
				got = in.Name
			}
			if got != tc.want {
				t.Errorf("%s: explained by %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

// TestNodePortNotOnServiceAddress: kube-proxy's node ports on a service
// address it bound on kube-ipvs0 are explained only when the seed's
// --nodeport-addresses CIDRs of that family select the address (kube-proxy
// then lists kube-ipvs0's addresses with the host's; matching all, it
// leaves them out), and only on a node port.
func TestNodePortNotOnServiceAddress(t *testing.T) {
	const cidrs = "--nodeport-addresses=198.18.0.0/16,fd00:198:19::/48"
	kpOnly := func(key string) Difference { return vsDiff(OnlyKubeProxy, "", ptr(vs(key, "rr", 0, 0)), nil) }
	for _, tc := range []struct {
		name  string
		flags []string
		d     Difference
		want  string
	}{
		{"node port on a bound cluster IP in the CIDRs", []string{cidrs}, kpOnly("TCP 198.18.1.11:30001"), "nodeport-not-on-service-address"},
		{"the node's primary IP and a CIDR", []string{"--nodeport-addresses=primary,198.18.1.0/24"}, kpOnly("TCP 198.18.1.11:30001"), "nodeport-not-on-service-address"},
		{"no --nodeport-addresses", nil, kpOnly("TCP 198.18.1.11:30001"), ""},
		{"--nodeport-addresses=all", []string{"--nodeport-addresses=all"}, kpOnly("TCP 198.18.1.11:30001"), ""},
		{"a zero CIDR", []string{"--nodeport-addresses=0.0.0.0/0"}, kpOnly("TCP 198.18.1.11:30001"), ""},
		{"CIDRs of the other family only", []string{"--nodeport-addresses=fd00::/8"}, kpOnly("TCP 198.18.1.11:30001"), ""},
		{"a CIDR that does not hold the address", []string{"--nodeport-addresses=198.19.255.0/24"}, kpOnly("TCP 198.18.1.11:30001"), ""},
		{"not a node port", []string{cidrs}, kpOnly("TCP 198.18.1.11:30002"), ""},
		{"a node port of another protocol", []string{cidrs}, kpOnly("UDP 198.18.1.11:30001"), ""},
		{"an address kube-proxy did not bind", []string{cidrs}, kpOnly("TCP 198.18.1.12:30001"), ""},
		{"a host address", []string{"--nodeport-addresses=198.19.255.0/24"}, kpOnly("TCP 198.19.255.15:30001"), ""},
		{"only ipvs-proxy has it", []string{cidrs}, vsDiff(OnlyIPVSProxy, "", nil, ptr(vs("TCP 198.18.1.11:30001", "rr", 0, 0))), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorld()
			w.Cluster.Flags = tc.flags
			w.KubeProxyBound = []netip.Addr{netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("198.18.1.11"), NodeIPv4}
			got := ""
			if in := Explain(&tc.d, w); in != nil {
				got = in.Name
			}
			if got != tc.want {
				t.Errorf("%s with flags %v: explained by %q, want %q", tc.d, tc.flags, got, tc.want)
			}
		})
	}
}

// TestOpenGap: the hints printed next to unexplained differences.
func TestOpenGap(t *testing.T) {
	w := testWorld()
	for _, tc := range []struct {
		d    Difference
		want string
	}{
		{vsDiff(OnlyKubeProxy, "", ptr(vs("TCP 198.19.254.1:30001", "rr", 0, 0)), nil), "issue point 2 (node addresses)"},
		{vsDiff(Both, "flags", ptr(vs("TCP 198.18.1.10:80", "mh", FlagSched2, 0)), ptr(vs("TCP 198.18.1.10:80", "mh", FlagSched1, 0))), "issue point 6 (schedulers)"},
		{rsDiff(OnlyIPVSProxy, "TCP 198.18.1.10:80", rs("198.19.1.2:8080", 1)), "issue point 5 (EndpointSlice details)"},
		{addrDiff(OnlyIPVSProxy, "198.18.1.10/32"), "new"},
	} {
		if got := OpenGap(&tc.d, w); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.d, got, tc.want)
		}
	}
	w.Cluster.Flags = []string{"--nodeport-addresses=primary"}
	d := vsDiff(OnlyKubeProxy, "", ptr(vs("TCP 198.19.254.1:30001", "rr", 0, 0)), nil)
	if got := OpenGap(&d, w); got != "issue point 3 (--nodeport-addresses)" {
		t.Errorf("%s with --nodeport-addresses: %q", d, got)
	}
}

// TestIntendedDifferencesAreDocumented: the guide's "Differences from
// kube-proxy" section names every rule, and no other.
func TestIntendedDifferencesAreDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/migrating-from-kube-proxy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Differences from kube-proxy\n")
	if !ok {
		t.Fatal(`the guide has no "## Differences from kube-proxy" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, in := range IntendedDifferences {
		if !strings.Contains(section, "`"+in.Name+"`") {
			t.Errorf("the guide's section does not name `%s` (%s)", in.Name, in.Reason)
		}
	}
	if n, want := strings.Count(section, "\n- `"), len(IntendedDifferences); n != want {
		t.Errorf("the guide's section has %d entries, the table %d", n, want)
	}
}
