package proxier

import (
	"fmt"
	"net/netip"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// byteSource turns fuzz input into choices; it returns zeros when exhausted.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next() int {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return int(s.b[s.i-1])
}

func (s *byteSource) pick(n int) int { return s.next() % n }

func (s *byteSource) bool() bool { return s.next()&1 == 1 }

// Pools include invalid and odd values on purpose: the node's own
// addresses (node IPs, a node-port address, host addresses that are not
// node IPs: see fuzzNode), and addresses that are nobody's service address
// or real server (loopback, multicast, broadcast, link-local, unspecified),
// some IPv4-mapped.
var (
	fuzzIPs = []string{"198.18.0.1", "198.18.0.2", "198.18.10.1", "198.18.10.2", "fd00::1", "fd00::a:1",
		"", "None", "bogus", "::ffff:198.18.0.9", "0.0.0.0", "fe80::1%eth0", "198.18.0.300",
		"198.18.1.1", "fd00::1:1", "198.18.2.2", "198.18.3.3", "fd00::3:3", "::ffff:198.18.3.3",
		"127.0.0.1", "::1", "::ffff:127.0.0.1", "224.0.0.1", "239.1.1.1", "ff02::1", "ff05::2",
		"255.255.255.255", "169.254.1.1", "fe80::1", "::"}
	fuzzProtos  = []v1.Protocol{"TCP", "UDP", "SCTP", "", "ICMP", "tcp"}
	fuzzNames   = []string{"", "http", "dns", "a"}
	fuzzNodes   = []string{"node-a", "node-b", ""}
	fuzzScheds  = []string{"rr", "sh", "mh", "wrr", "bogus", ""}
	fuzzFlags   = []string{"sh-fallback", "sh-port,sh-fallback", "mh-port", "flag-1,flag-2", "x", ""}
	fuzzRanges  = []string{"198.18.100.0/24", "fd00::/64", "garbage", " 198.18.1.1/32 "}
	fuzzPorts   = []int32{0, 53, 80, 80, 443, 65535, 70000, -1}
	fuzzTypes   = []v1.ServiceType{v1.ServiceTypeClusterIP, v1.ServiceTypeNodePort, v1.ServiceTypeLoadBalancer, v1.ServiceTypeExternalName}
	fuzzAddrTyp = []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6, discovery.AddressTypeFQDN}
)

func fuzzStrings(s *byteSource, pool []string, max int) []string {
	var out []string
	for n := s.pick(max + 1); n > 0; n-- {
		out = append(out, pool[s.pick(len(pool))])
	}
	return out
}

func fuzzService(s *byteSource, i int) *v1.Service {
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint("svc", s.pick(4)),
		CreationTimestamp: metav1.NewTime(epoch.Add(3600e9 * 0)), Annotations: map[string]string{}}}
	svc.Spec.Type = fuzzTypes[s.pick(len(fuzzTypes))]
	svc.Spec.ClusterIPs = fuzzStrings(s, fuzzIPs, 2)
	if len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	svc.Spec.ExternalIPs = fuzzStrings(s, fuzzIPs, 2)
	for _, ip := range fuzzStrings(s, fuzzIPs, 2) {
		ing := v1.LoadBalancerIngress{IP: ip}
		if s.bool() {
			ing.IPMode = new(v1.LoadBalancerIPModeProxy)
		}
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, ing)
	}
	svc.Spec.LoadBalancerSourceRanges = fuzzStrings(s, fuzzRanges, 2)
	for n := s.pick(4); n > 0; n-- {
		svc.Spec.Ports = append(svc.Spec.Ports, v1.ServicePort{Name: fuzzNames[s.pick(len(fuzzNames))],
			Protocol: fuzzProtos[s.pick(len(fuzzProtos))], Port: fuzzPorts[s.pick(len(fuzzPorts))], NodePort: 30000 + int32(s.pick(3))})
	}
	if s.bool() {
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
	}
	if s.bool() {
		svc.Spec.InternalTrafficPolicy = new(v1.ServiceInternalTrafficPolicyLocal)
	}
	if s.bool() {
		svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: new(int32(s.next()*400 - 1000))}}
	}
	if s.bool() {
		svc.Annotations[AnnotationScheduler] = fuzzScheds[s.pick(len(fuzzScheds))]
	}
	if s.bool() {
		svc.Annotations[AnnotationSchedulerFlags] = fuzzFlags[s.pick(len(fuzzFlags))]
	}
	return svc
}

func fuzzSlice(s *byteSource, i int) *discovery.EndpointSlice {
	sl := &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint("slice", i),
		Labels: map[string]string{discovery.LabelServiceName: fmt.Sprint("svc", s.pick(5))}},
		AddressType: fuzzAddrTyp[s.pick(len(fuzzAddrTyp))]}
	for n := s.pick(3); n > 0; n-- {
		p := discovery.EndpointPort{Name: new(fuzzNames[s.pick(len(fuzzNames))]), Protocol: new(fuzzProtos[s.pick(len(fuzzProtos))])}
		if s.pick(5) > 0 {
			p.Port = new(fuzzPorts[s.pick(len(fuzzPorts))])
		}
		sl.Ports = append(sl.Ports, p)
	}
	for n := s.pick(5); n > 0; n-- {
		e := discovery.Endpoint{Addresses: fuzzStrings(s, fuzzIPs, 2), NodeName: new(fuzzNodes[s.pick(len(fuzzNodes))])}
		e.Conditions = discovery.EndpointConditions{Ready: fuzzBool(s), Serving: fuzzBool(s), Terminating: fuzzBool(s)}
		if s.bool() {
			e.Hints = &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: []string{"zone-a", "zone-b"}[s.pick(2)]}}}
			if s.bool() {
				e.Hints.ForNodes = []discovery.ForNode{{Name: fuzzNodes[s.pick(len(fuzzNodes))]}}
			}
		}
		sl.Endpoints = append(sl.Endpoints, e)
	}
	return sl
}

// servingSlice is a slice that serves svc's ports, which fuzzSlice's
// rarely do (its labels, ports and address types are drawn apart, so
// real servers are rare): endpoints on this node and others, in any
// condition, mostly valid backend addresses, sometimes one of the odd
// addresses of fuzzIPs (the node's own, loopback, multicast...).
func servingSlice(s *byteSource, svc *v1.Service, i int) *discovery.EndpointSlice {
	fam, pool := discovery.AddressTypeIPv4, []string{"198.18.10.1", "198.18.10.2", "198.18.10.3"}
	if s.bool() {
		fam, pool = discovery.AddressTypeIPv6, []string{"fd00::a:1", "fd00::a:2", "fd00::a:3"}
	}
	sl := &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: fmt.Sprint("serving", i),
		Labels: map[string]string{discovery.LabelServiceName: svc.Name}}, AddressType: fam}
	for _, p := range svc.Spec.Ports {
		sl.Ports = append(sl.Ports, discovery.EndpointPort{Name: new(p.Name), Protocol: new(p.Protocol), Port: new(int32(8080))})
	}
	for n := 1 + s.pick(4); n > 0; n-- {
		addr := pool[s.pick(len(pool))]
		if s.pick(4) == 0 {
			addr = fuzzIPs[s.pick(len(fuzzIPs))]
		}
		e := discovery.Endpoint{Addresses: []string{addr}, NodeName: new(fuzzNodes[s.pick(2)])}
		e.Conditions = discovery.EndpointConditions{Ready: fuzzBool(s), Serving: fuzzBool(s), Terminating: fuzzBool(s)}
		sl.Endpoints = append(sl.Endpoints, e)
	}
	return sl
}

// fuzzSlices draws up to max slices, fuzzSlice's and servingSlice's.
func fuzzSlices(s *byteSource, svcs []*v1.Service, max int) []*discovery.EndpointSlice {
	var sls []*discovery.EndpointSlice
	for i, n := 0, s.pick(max+1); i < n; i++ {
		if len(svcs) == 0 || s.bool() {
			sls = append(sls, fuzzSlice(s, i))
		} else {
			sls = append(sls, servingSlice(s, svcs[s.pick(len(svcs))], i))
		}
	}
	return sls
}

// fuzzBool returns nil, true or false.
func fuzzBool(s *byteSource) *bool {
	switch s.pick(3) {
	case 0:
		return nil
	case 1:
		return new(true)
	}
	return new(false)
}

// fuzzNode is testNode with a node-port address of its own (198.18.2.2)
// and the host addresses the kernel would list: the node IPs, 198.18.3.3
// and fd00::3:3 on another interface, loopback and link-local ones.
// Sometimes it is single-stack, sometimes it has no HostIPs (node IPs are
// host addresses all the same).
func fuzzNode(s *byteSource) Node {
	node := testNode()
	if s.bool() {
		node.IPs = node.IPs[:1]
	}
	node.NodePortIPs = append(node.NodePortIPs, netip.MustParseAddr("198.18.2.2"))
	if s.pick(4) > 0 {
		for _, a := range []string{"198.18.1.1", "fd00::1:1", "198.18.2.2", "198.18.3.3", "fd00::3:3", "127.0.0.1", "::1", "fe80::1"} {
			node.HostIPs = append(node.HostIPs, netip.MustParseAddr(a))
		}
	}
	return node
}

// FuzzBuild feeds Build arbitrary Services and EndpointSlices: it must never
// panic, every result must hold the invariants, and Diff must take an empty
// kernel to exactly that state.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{3, 1, 0, 1, 2, 1, 4, 2, 1, 2, 9, 9})
	f.Add([]byte("a fairly long seed that drives many choices through the generator 0123456789"))
	f.Add([]byte{255, 254, 253, 252, 251, 250, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &byteSource{b: data}
		var svcs []*v1.Service
		for i, n := 0, s.pick(5); i < n; i++ {
			svcs = append(svcs, fuzzService(s, i))
		}
		sls := fuzzSlices(s, svcs, 6)
		node := fuzzNode(s)
		cfg := Config{Scheduler: fuzzScheds[s.pick(4)], MasqueradeAll: s.bool()}
		st, _ := Build(svcs, sls, node, cfg)
		checkInvariants(t, st, node)
		applied := applyPlan(t, model.NewState(), Diff(st, model.NewState()))
		if again := Diff(st, applied); !again.Empty() {
			t.Fatalf("plan from empty did not converge:\n%s", again)
		}
	})
}
