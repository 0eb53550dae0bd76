package parity

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The seed's choices of flags: the empty string means the flag's default.
var (
	// Every scheduler of Debian 12's kernel (test/vm loads them all);
	// kube-proxy takes any name the kernel has.
	schedulerChoices = []string{"", "", "", "", "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "fo", "ovf"}
	nodePortChoices  = []string{"", "", "", "primary",
		"198.19.255.0/24,fd00:198:19:255::/64", // the node's subnets
		"198.19.255.0/24",                      // IPv4 only
		"198.19.254.0/24,fd00:198:19:254::/64", // the extra host addresses' subnets
		"198.19.0.0/16,fd00:198:19::/48",       // both, and not the service ranges
	}
)

// Well-known labels and annotations the generator sets.
const (
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	annotationScheduler   = "ipvs-proxy.io/scheduler"
)

// gen holds one seed's random source and what it has handed out.
type gen struct {
	r        *rand.Rand
	c        *Cluster
	nodePort int32
	pods     int
	pool     map[string]int    // next address per pool
	vips     map[string]string // "addr port/proto" of external and LB addresses: the service
}

// Generate returns seed's cluster; the same seed always gives the same one.
func Generate(seed uint64) *Cluster {
	g := &gen{
		r:        rand.New(rand.NewPCG(seed, 0x1105eed)),
		c:        &Cluster{Seed: seed, Namespace: fmt.Sprintf("parity-%d", seed), Statuses: map[string]v1.ServiceStatus{}},
		nodePort: 30000 + int32(seed%9)*300,
		pool:     map[string]int{},
		vips:     map[string]string{},
	}
	g.node()
	g.flags()
	n := 12 + g.r.IntN(9)
	for i := range n {
		g.service(i)
	}
	if g.chance(0.3) {
		g.orphanSlice()
	}
	if g.chance(0.15) { // drawn last, so that adding it changed no seed's objects
		g.hostClusterIP()
	}
	return g.c
}

// hostClusterIP puts one service's cluster IP on the host too (on
// HostInterface): a Service whose cluster IP is an address of the node.
func (g *gen) hostClusterIP() {
	var ips []string
	for _, s := range g.c.Services {
		if s.Spec.ClusterIP != v1.ClusterIPNone {
			ips = append(ips, s.Spec.ClusterIPs...)
		}
	}
	if len(ips) == 0 {
		return
	}
	a := netip.MustParseAddr(pick(g, ips))
	g.c.Node.ExtraAddrs = append(g.c.Node.ExtraAddrs, netip.PrefixFrom(a, a.BitLen()))
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, from []T) T { return from[g.r.IntN(len(from))] }

// node chooses the zone label, the InternalIPs and the extra host addresses.
func (g *gen) node() {
	n := &g.c.Node
	if g.chance(0.8) {
		n.Zone = pick(g, zones)
	}
	switch g.r.IntN(10) {
	case 0:
		n.InternalIPs = []netip.Addr{NodeIPv4}
	case 1:
		n.InternalIPs = []netip.Addr{NodeIPv6, NodeIPv4}
	default:
		n.InternalIPs = []netip.Addr{NodeIPv4, NodeIPv6}
	}
	if g.chance(0.4) {
		n.ExtraAddrs = []netip.Prefix{ExtraIPv4, ExtraIPv6}
	}
}

// flags chooses the seed's non-default flags.
func (g *gen) flags() {
	var f []string
	if s := pick(g, schedulerChoices); s != "" {
		f = append(f, "--ipvs-scheduler="+s)
	}
	if a := pick(g, nodePortChoices); a != "" {
		f = append(f, "--nodeport-addresses="+a)
	}
	if g.chance(0.3) {
		f = append(f, "--masquerade-all=true")
	}
	if g.chance(0.2) {
		f = append(f, "--ipvs-strict-arp=true")
	}
	g.c.Flags = f
}

// service generates service i and its EndpointSlices.
func (g *gen) service(i int) {
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%02d", i), Namespace: g.c.Namespace}}
	switch w := g.r.IntN(20); {
	case w < 7:
		svc.Spec.Type = v1.ServiceTypeClusterIP
	case w < 12:
		svc.Spec.Type = v1.ServiceTypeNodePort
	case w < 18:
		svc.Spec.Type = v1.ServiceTypeLoadBalancer
	case w < 19:
		g.externalName(svc)
		g.c.Services = append(g.c.Services, svc)
		return
	default:
		svc.Spec.Type = v1.ServiceTypeClusterIP
		svc.Spec.ClusterIP = v1.ClusterIPNone // headless
	}
	g.families(svc, i)
	g.ports(svc)
	g.affinity(svc)
	g.policies(svc)
	g.labels(svc)
	if svc.Spec.ClusterIP != v1.ClusterIPNone {
		g.externalIPs(svc)
	}
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		g.loadBalancer(svc)
	}
	g.c.Services = append(g.c.Services, svc)
	g.slices(svc)
}

// externalName makes svc an ExternalName service, which no proxy programs.
func (g *gen) externalName(svc *v1.Service) {
	svc.Spec.Type = v1.ServiceTypeExternalName
	svc.Spec.ExternalName = "db.example.test"
	svc.Spec.Ports = []v1.ServicePort{{Name: "db", Port: 5432, Protocol: v1.ProtocolTCP}}
}

// families sets the IP family policy, families and cluster IPs (fixed per
// seed and index, so that a seed's report reads the same every run).
func (g *gen) families(svc *v1.Service, i int) {
	single, dual, prefer := v1.IPFamilyPolicySingleStack, v1.IPFamilyPolicyRequireDualStack, v1.IPFamilyPolicyPreferDualStack
	switch w := g.r.IntN(10); {
	case w < 5:
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &single, []v1.IPFamily{v1.IPv4Protocol}
	case w < 7:
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &single, []v1.IPFamily{v1.IPv6Protocol}
	case w < 9:
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &prefer, []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
	default:
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &dual, []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}
	}
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{v1.ClusterIPNone}
		return
	}
	for _, f := range svc.Spec.IPFamilies {
		ip := fmt.Sprintf("198.18.%d.%d", 1+g.c.Seed%250, 10+i)
		if f == v1.IPv6Protocol {
			ip = fmt.Sprintf("fd00:198:18::%x:%x", 1+g.c.Seed%15, 16+i)
		}
		svc.Spec.ClusterIPs = append(svc.Spec.ClusterIPs, ip)
	}
	svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
}

// ports generates one to three ports: TCP, UDP or SCTP, named or not, a
// number sometimes shared by two protocols, node ports where the type has
// them.
func (g *gen) ports(svc *v1.Service) {
	n := 1
	if w := g.r.IntN(10); w >= 9 {
		n = 3
	} else if w >= 6 {
		n = 2
	}
	taken := map[string]bool{}
	for k := range n {
		sp := v1.ServicePort{Protocol: pick(g, []v1.Protocol{v1.ProtocolTCP, v1.ProtocolTCP, v1.ProtocolTCP, v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolUDP, v1.ProtocolSCTP})}
		sp.Port = int32(1 + g.r.IntN(9999))
		if k > 0 && g.chance(0.2) {
			sp.Port = svc.Spec.Ports[k-1].Port // DNS-style: one number, two protocols
		}
		for taken[fmt.Sprint(sp.Port, sp.Protocol)] {
			sp.Port = int32(1 + g.r.IntN(9999))
		}
		taken[fmt.Sprint(sp.Port, sp.Protocol)] = true
		if n > 1 || g.chance(0.5) {
			sp.Name = fmt.Sprintf("p%d-%s", k, strings.ToLower(string(sp.Protocol)))
		}
		sp.TargetPort = intstr.FromInt32(int32(1024 + g.r.IntN(8000)))
		if g.chance(0.2) {
			sp.TargetPort = intstr.FromString("named")
		}
		if svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer {
			sp.NodePort = g.nextNodePort()
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
}

func (g *gen) nextNodePort() int32 {
	g.nodePort++
	return g.nodePort
}

// affinity sets sessionAffinity ClientIP on some services, with the
// default timeout or a chosen one.
func (g *gen) affinity(svc *v1.Service) {
	if !g.chance(0.25) {
		return
	}
	svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	if g.chance(0.5) {
		t := pick(g, []int32{1, 60, 3600, 86400, int32(1 + g.r.IntN(86400))})
		svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &t}}
	}
}

// policies sets the traffic policies and traffic distribution.
func (g *gen) policies(svc *v1.Service) {
	external := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer
	if external && g.chance(0.35) {
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
			svc.Spec.HealthCheckNodePort = g.nextNodePort()
		}
	}
	if g.chance(0.2) {
		local := v1.ServiceInternalTrafficPolicyLocal
		svc.Spec.InternalTrafficPolicy = &local
	}
	if g.chance(0.25) {
		d := pick(g, []string{v1.ServiceTrafficDistributionPreferClose, v1.ServiceTrafficDistributionPreferSameZone, v1.ServiceTrafficDistributionPreferSameNode})
		svc.Spec.TrafficDistribution = &d
	}
}

// labels marks some services for another proxy, and gives some a
// per-service scheduler annotation (ipvs-proxy's; kube-proxy ignores it).
func (g *gen) labels(svc *v1.Service) {
	if g.chance(0.05) {
		svc.Labels = map[string]string{labelServiceProxyName: "other-proxy"}
	}
	if g.chance(0.06) {
		svc.Annotations = map[string]string{annotationScheduler: pick(g, []string{"sh", "mh", "wlc", "lc"})}
	}
}
