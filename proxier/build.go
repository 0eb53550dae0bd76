package proxier

import (
	"cmp"
	"net/netip"
	"slices"
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
// still built.
func Build(services []*v1.Service, slices []*discovery.EndpointSlice, node Node, cfg Config) (*model.State, []Problem) {
	bySvc, problems := groupSlices(services, slices)
	states := make([]*ServiceState, 0, len(services))
	for _, svc := range services {
		if svc == nil {
			continue
		}
		st, p := BuildService(svc, bySvc[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}], node, cfg)
		problems = append(problems, p...)
		if st != nil {
			states = append(states, st)
		}
	}
	desired, p := Assemble(states, cfg)
	return desired, append(problems, p...)
}

// Assemble merges per-service fragments into one state. When two services
// claim the same virtual server, the older one (then the one first by
// namespace/name) keeps it and the other is reported.
func Assemble(states []*ServiceState, cfg Config) (*model.State, []Problem) {
	ordered := slices.Clone(states)
	slices.SortFunc(ordered, compareServiceState)
	out := model.NewState()
	owner := make(map[model.VSKey]types.NamespacedName, len(states))
	var problems []Problem
	for _, st := range ordered {
		for _, svc := range st.Services {
			if prev, taken := owner[svc.VSKey]; taken {
				problems = append(problems, conflictProblem(st.Name, prev, svc.VSKey))
				continue
			}
			owner[svc.VSKey] = st.Name
			out.Services[svc.VSKey] = svc
		}
		for _, a := range st.Addresses {
			out.Addresses[a] = struct{}{}
		}
		// A port whose virtual server another service won is that service's.
		for _, p := range st.Ports {
			if owner[p.VSKey] == st.Name {
				out.Netfilter.Ports = append(out.Netfilter.Ports, p)
			}
		}
		out.Netfilter.NodePorts = append(out.Netfilter.NodePorts, st.NodePorts...)
		out.Netfilter.Hairpin = append(out.Netfilter.Hairpin, st.Hairpin...)
	}
	out.Netfilter.MasqueradeAll = cfg.MasqueradeAll
	out.Netfilter.LocalCIDRs = slices.Clone(cfg.LocalCIDRs)
	out.Netfilter.Sort()
	return out, problems
}

func compareServiceState(a, b *ServiceState) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name.Namespace, b.Name.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(a.Name.Name, b.Name.Name)
}

func conflictProblem(loser, winner types.NamespacedName, k model.VSKey) Problem {
	return Problem{Kind: "Service", Namespace: loser.Namespace, Name: loser.Name, Service: loser,
		Message: "virtual server " + k.String() + " is already claimed by service " + winner.String() + "; skipped"}
}
