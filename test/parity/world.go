package parity

import (
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// World is what the rules know besides the two snapshots: the cluster as
// the API server stored it, the seed's node and flags, and the host's
// addresses.
type World struct {
	Cluster *Cluster
	// Services and Slices are as stored (defaults applied), every
	// namespace (the kubernetes Service too).
	Services []*v1.Service
	Slices   []*discovery.EndpointSlice
	// Host are the host's addresses on interfaces other than kube-ipvs0.
	Host []netip.Addr
	// KubeProxyBound are the addresses kube-proxy left on kube-ipvs0.
	KubeProxyBound []netip.Addr
}

// Kind says how a virtual server's address belongs to its service.
type Kind string

// The kinds of virtual servers.
const (
	KindCluster      Kind = "cluster IP"
	KindExternal     Kind = "external IP"
	KindLoadBalancer Kind = "load-balancer IP"
	KindNodePort     Kind = "node port"
)

// Ref is the service port a virtual server is for.
type Ref struct {
	Service *v1.Service
	Port    *v1.ServicePort
	Kind    Kind
}

// Lookup returns the service ports virtual server k is for: by address and
// port for cluster, external and load-balancer IPs (ipMode Proxy
// included, so that a report can name the service), by node port on any
// address. Services neither daemon handles are found too.
func (w *World) Lookup(k VSKey) []Ref {
	var out []Ref
	for _, s := range w.Services {
		for i := range s.Spec.Ports {
			sp := &s.Spec.Ports[i]
			if string(sp.Protocol) != k.Proto {
				continue
			}
			if sp.NodePort != 0 && uint16(sp.NodePort) == k.Port {
				out = append(out, Ref{s, sp, KindNodePort})
			}
			if uint16(sp.Port) != k.Port {
				continue
			}
			switch {
			case containsAddr(s.Spec.ClusterIPs, k.Addr):
				out = append(out, Ref{s, sp, KindCluster})
			case containsAddr(s.Spec.ExternalIPs, k.Addr):
				out = append(out, Ref{s, sp, KindExternal})
			case containsAddr(ingressIPs(s), k.Addr):
				out = append(out, Ref{s, sp, KindLoadBalancer})
			}
		}
	}
	return out
}

// AddrRefs returns the service ports whose cluster, external or
// load-balancer address is a.
func (w *World) AddrRefs(a netip.Addr) []Ref {
	var out []Ref
	for _, s := range w.Services {
		for i := range s.Spec.Ports {
			k := VSKey{Addr: a, Port: uint16(s.Spec.Ports[i].Port), Proto: string(s.Spec.Ports[i].Protocol)}
			for _, r := range w.Lookup(k) {
				if r.Service == s && r.Kind != KindNodePort {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

func ingressIPs(s *v1.Service) []string {
	var out []string
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			out = append(out, ing.IP)
		}
	}
	return out
}

func containsAddr(list []string, a netip.Addr) bool {
	return slices.ContainsFunc(list, func(s string) bool {
		p, err := netip.ParseAddr(s)
		return err == nil && p.Unmap() == a
	})
}

// Endpoint is one endpoint of a service port as kube-proxy reads it: the
// first address, the port of the slice port with the service port's name
// and protocol.
type Endpoint struct {
	Slice    string
	Addr     netip.Addr
	Port     uint16
	Endpoint *discovery.Endpoint
}

// Ready, Serving and Terminating read the conditions as kube-proxy does:
// nil means ready, serving and not terminating.
func (e Endpoint) Ready() bool { c := e.Endpoint.Conditions; return c.Ready == nil || *c.Ready }

func (e Endpoint) Serving() bool { c := e.Endpoint.Conditions; return c.Serving == nil || *c.Serving }

func (e Endpoint) Terminating() bool {
	c := e.Endpoint.Conditions
	return c.Terminating != nil && *c.Terminating
}

// Local reports whether the endpoint is on this node.
func (e Endpoint) Local() bool {
	return e.Endpoint.NodeName != nil && *e.Endpoint.NodeName == NodeName
}

// Endpoints returns the endpoints of service port r in family v4 or v6.
func (w *World) Endpoints(r Ref, v4 bool) []Endpoint {
	var out []Endpoint
	for _, sl := range w.Slices {
		if sl.Namespace != r.Service.Namespace || sl.Labels[discovery.LabelServiceName] != r.Service.Name ||
			sl.AddressType != discovery.AddressType(familyOf(v4)) {
			continue
		}
		for _, p := range sl.Ports {
			if p.Name == nil || *p.Name != r.Port.Name || p.Protocol == nil || *p.Protocol != r.Port.Protocol || p.Port == nil {
				continue
			}
			for i := range sl.Endpoints {
				e := &sl.Endpoints[i]
				if a, err := netip.ParseAddr(e.Addresses[0]); err == nil {
					out = append(out, Endpoint{Slice: sl.Name, Addr: a.Unmap(), Port: uint16(*p.Port), Endpoint: e})
				}
			}
		}
	}
	return out
}

func familyOf(v4 bool) v1.IPFamily {
	if v4 {
		return v1.IPv4Protocol
	}
	return v1.IPv6Protocol
}

// IsHost reports whether a is one of the host's addresses.
func (w *World) IsHost(a netip.Addr) bool { return slices.Contains(w.Host, a) }

// Special reports whether a is an address that is nobody's: loopback,
// multicast, link-local, unspecified or the IPv4 broadcast address.
func Special(a netip.Addr) bool {
	return a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// key returns "namespace/name".
func key(s *v1.Service) string { return s.Namespace + "/" + s.Name }

// hasSchedulerAnnotation reports whether the service asks ipvs-proxy for
// its own scheduler (ipvs-proxy's annotation or kube-router's).
func hasSchedulerAnnotation(s *v1.Service) bool {
	for k := range s.Annotations {
		if k == annotationScheduler || strings.HasPrefix(k, "kube-router.io/service.sched") {
			return true
		}
	}
	return false
}
