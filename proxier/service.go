package proxier

import (
	"fmt"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// LabelServiceProxyName marks services handled by another proxy (or, with
// Config.ServiceProxyName, by this one).
const LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"

// Handled reports whether this proxy programs the service at all: not
// ExternalName, not headless, and carrying the service-proxy-name label only
// when Config.ServiceProxyName asks for exactly that name.
func Handled(svc *v1.Service, cfg *Config) bool {
	if svc == nil || svc.Spec.Type == v1.ServiceTypeExternalName || svc.Spec.ClusterIP == v1.ClusterIPNone {
		return false
	}
	return svc.Labels[LabelServiceProxyName] == cfg.ServiceProxyName
}

// serviceBuilder accumulates one service's fragment and problems.
type serviceBuilder struct {
	svc      *v1.Service
	node     *Node
	cfg      *Config
	st       *ServiceState
	problems []Problem
	eps      map[portKey]*famEndpoints
	// hosts are the service's addresses that belong to the node (see
	// hostaddr.go), usually none.
	hosts []netip.Addr
	// localReady counts this node's ready endpoints per IP family, summed
	// over the ports (health-check node port).
	localReady [2]int
}

// BuildService builds the desired state one Service contributes, from the
// service and its EndpointSlices. It returns nil when the service is not
// handled (see Handled). Problems name the service or slice and what was
// skipped; everything valid is still built.
func BuildService(svc *v1.Service, slcs []*Slice, node Node, cfg Config) (*ServiceState, []Problem) {
	if !Handled(svc, &cfg) {
		return nil, nil
	}
	b := &serviceBuilder{svc: svc, node: &node, cfg: &cfg, st: &ServiceState{
		Name:    types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name},
		Created: svc.CreationTimestamp.Time,
	}}
	b.eps, b.problems = collectEndpoints(slcs)
	b.build()
	b.finish()
	for i := range b.problems {
		b.problems[i].Service = b.st.Name
	}
	return b.st, b.problems
}

func (b *serviceBuilder) problem(format string, args ...any) {
	b.problems = append(b.problems, Problem{Kind: "Service", Namespace: b.svc.Namespace, Name: b.svc.Name,
		Message: fmt.Sprintf(format, args...)})
}

// build walks the service's ports and addresses.
func (b *serviceBuilder) build() {
	clusterIPs := b.clusterIPs()
	if len(clusterIPs) == 0 {
		return
	}
	tmpl := b.virtualServerTemplate()
	b.healthCheckNodePort()
	externalIPs := b.parseIPs(fieldExternalIPs, b.svc.Spec.ExternalIPs)
	lbIPs := b.loadBalancerIPs()
	sourceRanges := b.sourceRanges()
	seen := make(map[portNumber]bool, len(b.svc.Spec.Ports))
	for i := range b.svc.Spec.Ports {
		sp := &b.svc.Spec.Ports[i]
		proto, ok := b.checkPort(i, sp, seen)
		if !ok {
			continue
		}
		pb := portBuilder{serviceBuilder: b, sp: sp, proto: proto, tmpl: tmpl}
		key := portKey{name: sp.Name, proto: sp.Protocol}
		if key.proto == "" {
			key.proto = v1.ProtocolTCP
		}
		if fe := b.eps[key]; fe != nil {
			pb.famEps = *fe
		}
		pb.build(clusterIPs, externalIPs, lbIPs, sourceRanges)
	}
	// kube-proxy runs one proxier per IP family, each counting its own
	// family's endpoints: a dual-stack pod counts once, not twice.
	b.st.LocalReadyEndpoints = max(b.localReady[0], b.localReady[1])
}

// checkPort validates one service port: a supported protocol, a port in
// range, and not a duplicate of an earlier port.
// portNumber identifies a service port by number and protocol.
type portNumber struct {
	port  int32
	proto model.Protocol
}

func (b *serviceBuilder) checkPort(i int, sp *v1.ServicePort, seen map[portNumber]bool) (model.Protocol, bool) {
	proto, err := model.ParseProtocol(string(sp.Protocol))
	if sp.Protocol == "" {
		proto, err = model.TCP, nil
	}
	if err != nil {
		b.problem("port %d (%q): %v; skipped", i, sp.Name, err)
		return 0, false
	}
	if sp.Port <= 0 || sp.Port > 65535 {
		b.problem("port %d (%q): port %d out of range; skipped", i, sp.Name, sp.Port)
		return 0, false
	}
	k := portNumber{port: sp.Port, proto: proto}
	if seen[k] {
		b.problem("port %d (%q): duplicate port %d/%s; skipped", i, sp.Name, sp.Port, proto)
		return 0, false
	}
	seen[k] = true
	return proto, true
}

// clusterIPs returns the service's valid cluster IPs in families the node
// has an address in.
func (b *serviceBuilder) clusterIPs() []netip.Addr {
	raw := b.svc.Spec.ClusterIPs
	if len(raw) == 0 && b.svc.Spec.ClusterIP != "" {
		raw = []string{b.svc.Spec.ClusterIP}
	}
	if len(raw) == 0 {
		b.problem("has no cluster IP; skipped")
		return nil
	}
	return b.parseIPs(fieldClusterIPs, raw)
}

// parseIPs parses addresses, reporting and skipping invalid ones and those
// that are nobody's service address, and reporting those that belong to
// the node (recorded in b.hosts; see hostaddr.go). Addresses of a family the
// node has no address in are dropped silently (single-stack node).
func (b *serviceBuilder) parseIPs(field string, raw []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range raw {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			b.problem("%s: %q is not a valid IP; skipped", field, s)
			continue
		}
		a = a.Unmap()
		if why := unusableReason(a); why != "" {
			b.problem("%s: %s %s, which cannot be a service address; skipped", field, describeAddr(s, a), why)
			continue
		}
		if !b.node.hasFamily(a) || slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
		if b.node.isHost(a) {
			if !slices.Contains(b.hosts, a) {
				b.hosts = append(b.hosts, a)
			}
			b.problem("%s", hostAddressProblem(field, a))
		}
	}
	return out
}

// loadBalancerIPs returns the ingress IPs to program: not those whose
// ipMode is Proxy (the load balancer proxies, so its IP must not be
// short-circuited on the node; KEP-1860).
func (b *serviceBuilder) loadBalancerIPs() []netip.Addr {
	if b.svc.Spec.Type != v1.ServiceTypeLoadBalancer {
		return nil
	}
	var raw []string
	for _, ing := range b.svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode == v1.LoadBalancerIPModeProxy) {
			continue
		}
		raw = append(raw, ing.IP)
	}
	return b.parseIPs(fieldLoadBalancer, raw)
}

// finish sorts the fragment into canonical order.
func (b *serviceBuilder) finish() {
	// Stable: of a virtual server built twice (an external IP equal to the
	// cluster IP), the first built is kept.
	slices.SortStableFunc(b.st.Services, func(x, y *model.Service) int {
		if x.VSKey.Less(y.VSKey) {
			return -1
		}
		if y.VSKey.Less(x.VSKey) {
			return 1
		}
		return 0
	})
	b.st.Services = slices.CompactFunc(b.st.Services, func(x, y *model.Service) bool {
		if x.VSKey != y.VSKey {
			return false
		}
		b.problem("virtual server %s is built twice (two of its addresses are the same); the first kept", x.VSKey)
		return true
	})
	slices.SortFunc(b.st.Addresses, netip.Addr.Compare)
	b.st.Addresses = slices.Compact(b.st.Addresses)
}

// healthCheckNodePort records the health-check node port of an
// externalTrafficPolicy Local NodePort or LoadBalancer service.
func (b *serviceBuilder) healthCheckNodePort() {
	spec := &b.svc.Spec
	if spec.ExternalTrafficPolicy != v1.ServiceExternalTrafficPolicyLocal || spec.HealthCheckNodePort == 0 ||
		(spec.Type != v1.ServiceTypeNodePort && spec.Type != v1.ServiceTypeLoadBalancer) {
		return
	}
	if spec.HealthCheckNodePort < 0 || spec.HealthCheckNodePort > 65535 {
		b.problem("healthCheckNodePort %d out of range; no health check served", spec.HealthCheckNodePort)
		return
	}
	b.st.HealthCheckNodePort = uint16(spec.HealthCheckNodePort)
}
