// Package k8stest builds Kubernetes Service and EndpointSlice objects for
// tests, with mutators so each test states only what matters:
//
//	svc := k8stest.Service("ns", "web", k8stest.NodePort(30080))
//	sl := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{
//		k8stest.Endpoint("198.18.10.1", k8stest.OnNode("node-a")),
//		k8stest.Endpoint("198.18.10.2", k8stest.Terminating(true)),
//	})
//
// Defaults: a ClusterIP service 198.18.0.10 with port "http" 80/TCP; an
// IPv4 slice with port "http" 8080/TCP; a ready endpoint on node-b.
package k8stest

import (
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Epoch is the creation time of every built service.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Service returns a ClusterIP service 198.18.0.10 with one port "http"
// 80/TCP, then applies the mutators.
func Service(ns, name string, mut ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(Epoch)},
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

// ClusterIPs sets the service's cluster IPs.
func ClusterIPs(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips }
}

// NodePort makes the service a NodePort service with this node port on its
// first port.
func NodePort(port int32) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = port }
}

// LoadBalancer makes the service a LoadBalancer with the node port and
// ingress IPs.
func LoadBalancer(nodePort int32, ips ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = nodePort
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
		}
	}
}

// Protocol sets the protocol of the service's first port.
func Protocol(p v1.Protocol) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Ports[0].Protocol = p }
}

// Annotate adds annotations given as key, value pairs.
func Annotate(kv ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

// ExternalLocal sets externalTrafficPolicy Local.
func ExternalLocal(s *v1.Service) {
	s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
}

// InternalLocal sets internalTrafficPolicy Local.
func InternalLocal(s *v1.Service) {
	s.Spec.InternalTrafficPolicy = new(v1.ServiceInternalTrafficPolicyLocal)
}

// Slice returns a slice of service ns/svc with port "http" 8080/TCP and the
// endpoints; its address type follows the first endpoint's family.
func Slice(ns, svc, name string, eps []discovery.Endpoint, mut ...func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	sl := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discovery.LabelServiceName: svc}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(v1.ProtocolTCP)}},
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

// SliceProtocol sets the protocol of the slice's first port.
func SliceProtocol(p v1.Protocol) func(*discovery.EndpointSlice) {
	return func(sl *discovery.EndpointSlice) { sl.Ports[0].Protocol = new(p) }
}

// Endpoint returns a ready endpoint on node-b with the mutators applied.
func Endpoint(ip string, mut ...func(*discovery.Endpoint)) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}, NodeName: new("node-b"),
		Conditions: discovery.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)}}
	for _, m := range mut {
		m(&e)
	}
	return e
}

// OnNode puts the endpoint on a node.
func OnNode(n string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) { e.NodeName = new(n) }
}

// Terminating marks the endpoint terminating; serving says whether it still
// passes its readiness probe.
func Terminating(serving bool) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		e.Conditions = discovery.EndpointConditions{Ready: new(false), Serving: new(serving), Terminating: new(true)}
	}
}

// NotReady marks the endpoint not ready and not terminating.
func NotReady(e *discovery.Endpoint) {
	e.Conditions = discovery.EndpointConditions{Ready: new(false), Serving: new(false), Terminating: new(false)}
}

// ZoneHint adds zone hints.
func ZoneHint(z ...string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discovery.EndpointHints{}
		}
		for _, n := range z {
			e.Hints.ForZones = append(e.Hints.ForZones, discovery.ForZone{Name: n})
		}
	}
}

// NodeHint adds node hints.
func NodeHint(n ...string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discovery.EndpointHints{}
		}
		for _, x := range n {
			e.Hints.ForNodes = append(e.Hints.ForNodes, discovery.ForNode{Name: x})
		}
	}
}
