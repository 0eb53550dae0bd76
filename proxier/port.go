package proxier

import (
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// portBuilder builds the virtual servers of one service port: one per
// cluster IP, external IP, load-balancer IP and node-port address.
type portBuilder struct {
	*serviceBuilder
	sp    *v1.ServicePort
	proto model.Protocol
	tmpl  model.VirtualServer
	// per family (index 0 IPv4, 1 IPv6): the endpoints and their selection.
	famEps famEndpoints
	famSel [2]selection
}

func famIndex(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// build adds this port's virtual servers and netfilter intent. Addresses of
// a family the service has no cluster IP in are left out, as kube-proxy's
// per-family proxiers leave them out.
func (p *portBuilder) build(clusterIPs, externalIPs, lbIPs []netip.Addr, sourceRanges []netip.Prefix) {
	var families [2]bool
	for _, a := range clusterIPs {
		families[famIndex(a)] = true
	}
	for f := range p.famEps {
		p.famSel[f] = categorize(p.famEps[f], p.node)
	}
	internalLocal := p.svc.Spec.InternalTrafficPolicy != nil && *p.svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	externalLocal := p.svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	for _, a := range clusterIPs {
		p.add(a, uint16(p.sp.Port), model.KindClusterIP, internalLocal, nil)
	}
	for _, a := range externalIPs {
		if families[famIndex(a)] {
			p.add(a, uint16(p.sp.Port), model.KindExternalIP, externalLocal, nil)
		}
	}
	for _, a := range lbIPs {
		if families[famIndex(a)] {
			p.add(a, uint16(p.sp.Port), model.KindLoadBalancer, externalLocal, sourceRanges)
		}
	}
	p.addNodePorts(families, externalLocal)
	p.addHairpin(families)
	if p.st.HealthCheckNodePort != 0 {
		for f := range p.famEps {
			if families[f] {
				p.localReady[f] += len(p.famSel[f].localReady(p.famEps[f]))
			}
		}
	}
}

// addNodePorts adds a virtual server per node-port address of a family the
// service has, for NodePort and LoadBalancer services with a node port.
func (p *portBuilder) addNodePorts(families [2]bool, local bool) {
	t := p.svc.Spec.Type
	if (t != v1.ServiceTypeNodePort && t != v1.ServiceTypeLoadBalancer) || p.sp.NodePort == 0 {
		return
	}
	if p.sp.NodePort < 0 || p.sp.NodePort > 65535 {
		p.problem("port %q: nodePort %d out of range; node port skipped", p.sp.Name, p.sp.NodePort)
		return
	}
	any := false
	for _, a := range p.node.nodePortIPs() {
		if families[famIndex(a)] {
			p.add(a, uint16(p.sp.NodePort), model.KindNodePort, local, nil)
			any = true
		}
	}
	if any {
		p.st.NodePorts = append(p.st.NodePorts, model.NodePort{Proto: p.proto, Port: uint16(p.sp.NodePort), Local: local})
	}
}

// add appends one virtual server with its real servers and netfilter port.
// With a node-local policy, the real servers are those of
// selection.forPort (an external port without a local endpoint falls back
// to the cluster's and is marked NoLocalEndpoints).
// Service addresses are bound on the dummy interface unless they belong to
// the host (then their port is marked Host; see hostaddr.go); node-port
// addresses always belong to the host and are neither bound nor marked.
func (p *portBuilder) add(a netip.Addr, port uint16, kind model.PortKind, local bool, ranges []netip.Prefix) {
	vs := p.tmpl
	vs.VSKey = model.VSKey{Addr: a, Port: port, Proto: p.proto}
	f := famIndex(a)
	sel, localOnly, noLocal := p.famSel[f].forPort(kind, local)
	p.noteNoLocal(f, kind, local)
	svc := &model.Service{VirtualServer: vs, Reals: realServers(p.famEps[f], sel, localOnly, p.node, a.Is4())}
	svc.SortReals()
	svc.Reals = compactReals(svc.Reals)
	p.st.Services = append(p.st.Services, svc)
	host := kind != model.KindNodePort && slices.Contains(p.hosts, a)
	if kind != model.KindNodePort && !host {
		p.st.Addresses = append(p.st.Addresses, a)
	}
	sp := model.ServicePort{VSKey: vs.VSKey, Kind: kind, Local: local && kind != model.KindClusterIP, Host: host, NoLocalEndpoints: noLocal}
	if kind == model.KindLoadBalancer {
		sp.SourceRanges = familyRanges(ranges, a.Is4())
	}
	p.st.Ports = append(p.st.Ports, sp)
}

// noteNoLocal records in the service's NoLocal that a node-local policy
// of family f has no endpoint on this node while the cluster has a ready
// or serving-terminating one (proxy.CategorizeEndpoints' hasAnyEndpoints).
func (p *portBuilder) noteNoLocal(f int, kind model.PortKind, local bool) {
	if !local || len(p.famSel[f].local) > 0 || !anyUsable(p.famEps[f]) {
		return
	}
	if kind == model.KindClusterIP {
		p.st.NoLocal[f].Internal = true
	} else {
		p.st.NoLocal[f].External = true
	}
}

// anyUsable reports whether an endpoint is ready or serving-terminating.
func anyUsable(eps []endpoint) bool {
	for i := range eps {
		if eps[i].ready || eps[i].isServingTerminating() {
			return true
		}
	}
	return false
}

// addHairpin records this node's endpoints that are real servers of the
// port, so that a pod reaching itself through the service is masqueraded.
func (p *portBuilder) addHairpin(families [2]bool) {
	for f := range p.famEps {
		if !families[f] {
			continue
		}
		for _, e := range p.famEps[f] {
			if e.nodeName == p.node.Name && (e.ready || e.terminating) {
				p.st.Hairpin = append(p.st.Hairpin, model.Endpoint{Addr: e.addr, Port: e.port, Proto: p.proto})
			}
		}
	}
}

// familyRanges keeps the prefixes of one family.
func familyRanges(ranges []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range ranges {
		if r.Addr().Is4() == v4 {
			out = append(out, r)
		}
	}
	return out
}

// compactReals merges duplicate real servers of a sorted list (an address
// listed twice in one slice), keeping the highest weight.
func compactReals(rs []model.RealServer) []model.RealServer {
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].RSKey == r.RSKey {
			out[n-1].Weight = max(out[n-1].Weight, r.Weight)
			continue
		}
		out = append(out, r)
	}
	return out
}
