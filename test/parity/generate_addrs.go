package parity

import (
	"fmt"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// Special addresses the API server accepts in some fields: multicast and
// the broadcast address as external IPs and endpoints (ValidateEndpointIP
// lets them through), and anything at all as a load-balancer ingress IP.
var (
	specialExternalIPs = []string{"239.2.2.2", "255.255.255.255"}
	specialIngressIPs  = []string{"127.0.0.53", "224.1.1.1", "169.254.10.10", "255.255.255.255"}
)

// externalIPs gives some services one or two external IPs: from the
// external pool, sometimes of a family the service does not have,
// sometimes a host address, rarely a special address.
func (g *gen) externalIPs(svc *v1.Service) {
	if !g.chance(0.2) {
		return
	}
	for range 1 + g.r.IntN(2) {
		var a string
		switch w := g.r.IntN(20); {
		case w < 1:
			a = pick(g, specialExternalIPs)
		case w < 3:
			a = pick(g, g.hostAddrs()).String()
		default:
			a = g.poolAddr("external", g.family(svc, 0.8))
		}
		if g.claim(svc, a) && !slices.Contains(svc.Spec.ExternalIPs, a) {
			svc.Spec.ExternalIPs = append(svc.Spec.ExternalIPs, a)
		}
	}
}

// loadBalancer writes the LB fields and the status written after create:
// zero to two ingress entries, each an IP (of the pool, the host or special)
// with ipMode unset, VIP or Proxy, or a hostname.
func (g *gen) loadBalancer(svc *v1.Service) {
	if g.chance(0.15) {
		no := false
		svc.Spec.AllocateLoadBalancerNodePorts = &no
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if g.chance(0.3) {
		svc.Spec.LoadBalancerSourceRanges = pick(g, [][]string{{"198.19.200.0/24"}, {"198.19.255.0/24", "fd00:20::/48"}, {"0.0.0.0/0"}})
	}
	var st v1.ServiceStatus
	n := 1
	if w := g.r.IntN(20); w < 3 {
		n = 0
	} else if w >= 15 {
		n = 2
	}
	for range n {
		ing := g.ingress(svc)
		if ing.IP != "" && !g.claim(svc, ing.IP) {
			continue
		}
		st.LoadBalancer.Ingress = append(st.LoadBalancer.Ingress, ing)
	}
	if len(st.LoadBalancer.Ingress) > 0 {
		g.c.Statuses[svc.Name] = st
	}
}

// ingress returns one load-balancer ingress entry.
func (g *gen) ingress(svc *v1.Service) v1.LoadBalancerIngress {
	var ing v1.LoadBalancerIngress
	switch w := g.r.IntN(20); {
	case w < 2:
		return v1.LoadBalancerIngress{Hostname: "lb.example.test"}
	case w < 3 && slices.Contains(svc.Spec.IPFamilies, v1.IPv4Protocol):
		ing.IP = pick(g, specialIngressIPs)
	case w < 4:
		ing.IP = pick(g, g.hostAddrs()).String()
	default:
		ing.IP = g.poolAddr("lb", g.family(svc, 0.95))
	}
	switch w := g.r.IntN(20); {
	case w < 5:
		m := v1.LoadBalancerIPModeVIP
		ing.IPMode = &m
	case w < 8:
		m := v1.LoadBalancerIPModeProxy
		ing.IPMode = &m
	}
	return ing
}

// family picks one of the service's families with probability own, else
// either family.
func (g *gen) family(svc *v1.Service, own float64) v1.IPFamily {
	if g.chance(own) {
		return pick(g, svc.Spec.IPFamilies)
	}
	return pick(g, []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol})
}

// hostAddrs are the host's addresses in this seed: the node's eth0 and the
// extra addresses.
func (g *gen) hostAddrs() []netip.Addr {
	out := []netip.Addr{NodeIPv4, NodeIPv6}
	for _, p := range g.c.Node.ExtraAddrs {
		out = append(out, p.Addr())
	}
	return out
}

// poolAddr hands out the next address of a pool: external IPs in
// 198.19.250.0/24 and fd00:30::/64, load-balancer IPs in 198.19.251.0/24
// and fd00:31::/64.
func (g *gen) poolAddr(pool string, fam v1.IPFamily) string {
	key := pool + string(fam)
	g.pool[key]++
	n := g.pool[key]
	switch {
	case pool == "external" && fam == v1.IPv4Protocol:
		return fmt.Sprintf("198.19.250.%d", n)
	case pool == "external":
		return fmt.Sprintf("fd00:30::%x", n)
	case fam == v1.IPv4Protocol:
		return fmt.Sprintf("198.19.251.%d", n)
	}
	return fmt.Sprintf("fd00:31::%x", n)
}

// claim reserves address a for every port of svc, and reports whether none
// was taken by another service: two services on one address and port would
// make kube-proxy's result depend on map order.
func (g *gen) claim(svc *v1.Service, a string) bool {
	keys := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		k := fmt.Sprintf("%s %d/%s", a, p.Port, p.Protocol)
		if owner, ok := g.vips[k]; ok && owner != svc.Name {
			return false
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		g.vips[k] = svc.Name
	}
	return true
}
