package proxier

import (
	"net/netip"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ServiceState is the desired kernel state one Kubernetes Service
// contributes. Build assembles the node's state from these fragments; the
// reconcile engine keeps them per service so that one changed service is
// rebuilt without touching the others.
type ServiceState struct {
	Name types.NamespacedName
	// Created orders services when two claim the same virtual server: the
	// older one keeps it.
	Created time.Time
	// Services are the virtual servers with their real servers, sorted.
	Services []*model.Service
	// Addresses are the addresses to bind on the dummy interface, sorted.
	Addresses []netip.Addr
	// Ports, NodePorts and Hairpin are this service's netfilter intent.
	Ports     []model.ServicePort
	NodePorts []model.NodePort
	Hairpin   []model.Endpoint
	// HealthCheckNodePort is set for externalTrafficPolicy Local services
	// with a healthCheckNodePort: load balancers probe it to learn whether
	// this node has LocalReadyEndpoints (counted over all ports, as
	// kube-proxy counts them, in the IP family with the most: kube-proxy
	// counts each family apart, so a dual-stack pod is one endpoint).
	HealthCheckNodePort uint16
	LocalReadyEndpoints int
	// NoLocal says, per IP family (index 0 IPv4, 1 IPv6), whether a
	// node-local traffic policy of the service found no endpoint on this
	// node while the cluster has some: kube-proxy's
	// kubeproxy_sync_proxy_rules_no_local_endpoints_total.
	NoLocal [2]NoLocal
}

// NoLocal says which node-local traffic policies of a service have no
// endpoint on this node while the cluster has some: Internal for
// internalTrafficPolicy Local (its cluster IPs then take no connections),
// External for externalTrafficPolicy Local (its external addresses fall back
// to the cluster's endpoints). kube-proxy's IPVS proxier counts these
// services per family (pkg/proxy/ipvs/proxier.go, syncEndpoint).
type NoLocal struct{ Internal, External bool }

// Build turns Kubernetes objects into the exact state the node's kernel must
// have. It is pure: no I/O, no clock, no logging. Defects in the input are
// returned as problems and the defective parts skipped; everything else is
// still built. It builds each service's fragment and merges them with an
// Assembler, as the reconcile engine does one service at a time. It takes
// the slices as the API serves them and reads them as the daemon keeps
// them (NewSlice).
func Build(services []*v1.Service, slices []*discovery.EndpointSlice, node Node, cfg Config) (*model.State, []Problem) {
	bySvc, problems := groupSlices(services, NewSlices(slices))
	a := NewAssembler()
	names := make([]types.NamespacedName, 0, len(services))
	seen := make(map[types.NamespacedName]bool, len(services))
	for _, svc := range services {
		if svc == nil {
			continue
		}
		name := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		st, p := BuildService(svc, bySvc[name], node, cfg)
		if !seen[name] {
			seen[name] = true
			names = append(names, name) // a duplicate replaces the first
		}
		a.Set(name, st, p)
	}
	for _, name := range names {
		problems = append(problems, a.Problems(name)...)
	}
	return a.State(&cfg, &node), problems
}
