//go:build e2eguest

package scenarios

import (
	"fmt"
	"net/netip"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

const servicePort = 80

// service creates a dual-stack ClusterIP service NAME with port "http"
// 80/TCP, after the mutators, and returns it as stored (cluster IPs and node
// ports allocated by the API server).
func (e *env) service(name string, mut ...func(*v1.Service)) *v1.Service {
	e.t.Helper()
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: v1.ServiceSpec{
			Type:           v1.ServiceTypeClusterIP,
			IPFamilyPolicy: new(v1.IPFamilyPolicyRequireDualStack),
			IPFamilies:     []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol},
			Ports: []v1.ServicePort{{Name: "http", Port: servicePort, Protocol: v1.ProtocolTCP,
				TargetPort: intstr.FromInt32(guest.BackendPort)}},
		},
	}
	for _, m := range mut {
		m(svc)
	}
	out, err := e.cluster.CreateService(e.t.Context(), svc)
	e.must(err, "creating the service")
	return out
}

// udp makes the service's port UDP.
func udp(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP; s.Spec.Ports[0].Name = "dns" }

// nodePort makes the service a NodePort service (port allocated).
func nodePort(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort }

// loadBalancer makes the service a LoadBalancer with these ingress IPs.
func loadBalancer(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
		}
	}
}

// externalIPs sets the service's external IPs.
func externalIPs(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ExternalIPs = ips }
}

// annotate adds annotations given as key, value pairs.
var annotate = k8stest.Annotate

// endpoints is how one pod appears in its slices.
type endpoint struct {
	pod *guest.Pod
	mut []func(*discovery.Endpoint)
}

// ready is a ready endpoint of the pod on this node.
func ready(p *guest.Pod) endpoint { return endpoint{pod: p} }

// terminating is a terminating endpoint that still passes its readiness
// probe (serving), as during a pod's graceful shutdown.
func terminating(p *guest.Pod) endpoint {
	return endpoint{pod: p, mut: []func(*discovery.Endpoint){k8stest.Terminating(true)}}
}

// notReady is an endpoint that failed its readiness probe without
// terminating: a crashed or unreachable pod.
func notReady(p *guest.Pod) endpoint {
	return endpoint{pod: p, mut: []func(*discovery.Endpoint){k8stest.NotReady}}
}

// readyPods are ready endpoints of every pod.
func readyPods(pods ...*guest.Pod) []endpoint {
	out := make([]endpoint, len(pods))
	for i, p := range pods {
		out[i] = ready(p)
	}
	return out
}

// slices writes service svc's two EndpointSlices, one per family, with the
// endpoints on BackendPort and proto (the service's port's protocol).
func (e *env) slices(svc *v1.Service, eps ...endpoint) {
	e.t.Helper()
	e.slicesInOrder(svc, []bool{false, true}, eps...)
}

// slicesInOrder writes the families' slices in this order: a scenario that
// times a change writes its family's slice first, or it would also time the
// other write and the daemon's sync of it.
func (e *env) slicesInOrder(svc *v1.Service, families []bool, eps ...endpoint) {
	e.t.Helper()
	port := svc.Spec.Ports[0]
	for _, v6 := range families {
		var list []discovery.Endpoint
		for _, ep := range eps {
			muts := append([]func(*discovery.Endpoint){k8stest.OnNode(guest.NodeName)}, ep.mut...)
			list = append(list, k8stest.Endpoint(ep.pod.Addr(v6).String(), muts...))
		}
		name := fmt.Sprintf("%s-v%d", svc.Name, map[bool]int{false: 4, true: 6}[v6])
		sl := k8stest.Slice(e.ns, svc.Name, name, list, func(sl *discovery.EndpointSlice) {
			sl.AddressType = map[bool]discovery.AddressType{false: discovery.AddressTypeIPv4, true: discovery.AddressTypeIPv6}[v6]
			sl.Ports = []discovery.EndpointPort{{Name: new(port.Name), Port: new(int32(guest.BackendPort)), Protocol: new(port.Protocol)}}
			if sl.Endpoints == nil {
				sl.Endpoints = []discovery.Endpoint{}
			}
			// As the EndpointSlice controller stamps every write: the
			// daemon's network programming latency starts from it.
			if sl.Annotations == nil {
				sl.Annotations = map[string]string{}
			}
			sl.Annotations[v1.EndpointsLastChangeTriggerTime] = time.Now().Format(time.RFC3339Nano)
		})
		e.must(e.cluster.ApplySlice(e.t.Context(), sl), "writing slice "+name)
	}
}

// clusterIP returns the service's cluster IP of a family with its port.
func (e *env) clusterIP(svc *v1.Service, v6 bool) netip.AddrPort {
	e.t.Helper()
	a, err := guest.ClusterIPOf(svc, v6)
	e.must(err, "reading the cluster IP")
	return netip.AddrPortFrom(a, uint16(svc.Spec.Ports[0].Port))
}

// nodePortOf returns the node's address of a family with the service's node
// port.
func nodePortOf(svc *v1.Service, v6 bool) netip.AddrPort {
	v4, ip6 := guest.NodeIPs()
	a := v4
	if v6 {
		a = ip6
	}
	return netip.AddrPortFrom(a, uint16(svc.Spec.Ports[0].NodePort))
}

// family names an address family in subtest names and messages.
func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}
