package parity

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// TestGenerateIsDeterministic: a seed always gives the same cluster, and
// two seeds give different ones.
func TestGenerateIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{0, 1, 7, 12345} {
		if d := cmp.Diff(Generate(seed), Generate(seed), addrs); d != "" {
			t.Errorf("seed %d gave two clusters (-first +second):\n%s", seed, d)
		}
	}
	if cmp.Equal(Generate(1).Services, Generate(2).Services) {
		t.Errorf("seeds 1 and 2 gave the same services")
	}
}

// addrs lets go-cmp compare netip values.
var addrs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// coverage lists the feature space the generator must reach: each entry
// holds for at least one of the first coverageSeeds seeds.
var coverage = []struct {
	name string
	has  func(c *Cluster) bool
}{
	{"type ClusterIP", anyService(func(s *v1.Service) bool {
		return s.Spec.Type == v1.ServiceTypeClusterIP && s.Spec.ClusterIP != v1.ClusterIPNone
	})},
	{"type NodePort", anyService(func(s *v1.Service) bool { return s.Spec.Type == v1.ServiceTypeNodePort })},
	{"type LoadBalancer", anyService(func(s *v1.Service) bool { return s.Spec.Type == v1.ServiceTypeLoadBalancer })},
	{"type ExternalName", anyService(func(s *v1.Service) bool { return s.Spec.Type == v1.ServiceTypeExternalName })},
	{"headless", anyService(func(s *v1.Service) bool { return s.Spec.ClusterIP == v1.ClusterIPNone })},
	{"single-stack IPv4", anyService(families(v1.IPv4Protocol))},
	{"single-stack IPv6", anyService(families(v1.IPv6Protocol))},
	{"dual-stack IPv4 first", anyService(families(v1.IPv4Protocol, v1.IPv6Protocol))},
	{"dual-stack IPv6 first", anyService(families(v1.IPv6Protocol, v1.IPv4Protocol))},
	{"TCP", anyPort(func(p v1.ServicePort) bool { return p.Protocol == v1.ProtocolTCP })},
	{"UDP", anyPort(func(p v1.ServicePort) bool { return p.Protocol == v1.ProtocolUDP })},
	{"SCTP", anyPort(func(p v1.ServicePort) bool { return p.Protocol == v1.ProtocolSCTP })},
	{"unnamed port", anyPort(func(p v1.ServicePort) bool { return p.Name == "" })},
	{"named target port", anyPort(func(p v1.ServicePort) bool { return p.TargetPort.StrVal != "" })},
	{"three ports", anyService(func(s *v1.Service) bool { return len(s.Spec.Ports) == 3 })},
	{"one number, two protocols", anyService(func(s *v1.Service) bool {
		return len(s.Spec.Ports) > 1 && s.Spec.Ports[0].Port == s.Spec.Ports[1].Port
	})},
	{"ClientIP affinity, default timeout", anyService(func(s *v1.Service) bool {
		return s.Spec.SessionAffinity == v1.ServiceAffinityClientIP && s.Spec.SessionAffinityConfig == nil
	})},
	{"ClientIP affinity, timeout", anyService(func(s *v1.Service) bool { return s.Spec.SessionAffinityConfig != nil })},
	{"eTP Local", anyService(func(s *v1.Service) bool { return s.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal })},
	{"iTP Local", anyService(func(s *v1.Service) bool { return s.Spec.InternalTrafficPolicy != nil })},
	{"trafficDistribution", anyService(func(s *v1.Service) bool { return s.Spec.TrafficDistribution != nil })},
	{"external IP", anyService(func(s *v1.Service) bool { return len(s.Spec.ExternalIPs) > 0 })},
	{"external IP of the host", anyService(func(s *v1.Service) bool { return slices.Contains(s.Spec.ExternalIPs, NodeIPv4.String()) })},
	{"special external IP", anyService(func(s *v1.Service) bool { return slices.Contains(s.Spec.ExternalIPs, "239.2.2.2") })},
	{"loadBalancerSourceRanges", anyService(func(s *v1.Service) bool { return len(s.Spec.LoadBalancerSourceRanges) > 0 })},
	{"no LB node ports", anyService(func(s *v1.Service) bool { return s.Spec.AllocateLoadBalancerNodePorts != nil })},
	{"ingress ipMode Proxy", anyIngress(func(i v1.LoadBalancerIngress) bool { return i.IPMode != nil && *i.IPMode == v1.LoadBalancerIPModeProxy })},
	{"ingress ipMode VIP", anyIngress(func(i v1.LoadBalancerIngress) bool { return i.IPMode != nil && *i.IPMode == v1.LoadBalancerIPModeVIP })},
	{"ingress hostname", anyIngress(func(i v1.LoadBalancerIngress) bool { return i.Hostname != "" })},
	{"special ingress IP", anyIngress(func(i v1.LoadBalancerIngress) bool { return Special(netip.MustParseAddr(orZero(i.IP))) })},
	{"service-proxy-name label", anyService(func(s *v1.Service) bool { return s.Labels[labelServiceProxyName] != "" })},
	{"scheduler annotation", anyService(hasSchedulerAnnotation)},
	{"several slices per family", func(c *Cluster) bool { return strings.Contains(fmt.Sprint(sliceNames(c)), "-v4-2") }},
	{"FQDN slice", anySlice(func(s *discovery.EndpointSlice) bool { return s.AddressType == discovery.AddressTypeFQDN })},
	{"slice port with nil name", anySlice(func(s *discovery.EndpointSlice) bool {
		return slices.ContainsFunc(s.Ports, func(p discovery.EndpointPort) bool { return p.Name == nil })
	})},
	{"slice port with nil port", anySlice(func(s *discovery.EndpointSlice) bool {
		return slices.ContainsFunc(s.Ports, func(p discovery.EndpointPort) bool { return p.Port == nil })
	})},
	{"address in two slices", hasDuplicate},
	{"endpoint with two addresses", anyEndpoint(func(e discovery.Endpoint) bool { return len(e.Addresses) > 1 })},
	{"local endpoint", anyEndpoint(func(e discovery.Endpoint) bool { return e.NodeName != nil && *e.NodeName == NodeName })},
	{"endpoint on another node", anyEndpoint(func(e discovery.Endpoint) bool { return e.NodeName != nil && *e.NodeName != NodeName })},
	{"endpoint without node", anyEndpoint(func(e discovery.Endpoint) bool { return e.NodeName == nil })},
	{"ready nil", anyEndpoint(func(e discovery.Endpoint) bool { return e.Conditions.Ready == nil })},
	{"serving nil", anyEndpoint(func(e discovery.Endpoint) bool { return e.Conditions.Serving == nil })},
	{"serving and terminating", anyEndpoint(func(e discovery.Endpoint) bool {
		c := e.Conditions
		return c.Serving != nil && *c.Serving && isTerminating(c) && c.Ready != nil && !*c.Ready
	})},
	{"not serving, terminating", anyEndpoint(func(e discovery.Endpoint) bool {
		c := e.Conditions
		return c.Serving != nil && !*c.Serving && isTerminating(c)
	})},
	{"zone hints", anyEndpoint(func(e discovery.Endpoint) bool { return e.Hints != nil && len(e.Hints.ForZones) > 0 })},
	{"node hints", anyEndpoint(func(e discovery.Endpoint) bool { return e.Hints != nil && len(e.Hints.ForNodes) > 0 })},
	{"special endpoint address", anyEndpoint(func(e discovery.Endpoint) bool { return Special(netip.MustParseAddr(e.Addresses[0])) })},
	{"node without zone", func(c *Cluster) bool { return c.Node.Zone == "" }},
	{"node with only IPv4", func(c *Cluster) bool { return len(c.Node.InternalIPs) == 1 }},
	{"node with IPv6 first", func(c *Cluster) bool { return c.Node.InternalIPs[0].Is6() }},
	{"extra host addresses", func(c *Cluster) bool { return len(c.Node.ExtraAddrs) > 0 }},
	{"cluster IP on the host", func(c *Cluster) bool {
		return slices.ContainsFunc(c.Node.ExtraAddrs, func(p netip.Prefix) bool { return p.Addr().Is4() && p.Bits() == 32 || p.Bits() == 128 })
	}},
	{"--ipvs-scheduler=sh", hasFlag("--ipvs-scheduler=sh")},
	{"--ipvs-scheduler=mh", hasFlag("--ipvs-scheduler=mh")},
	{"--ipvs-scheduler=fo", hasFlag("--ipvs-scheduler=fo")},
	{"--nodeport-addresses=primary", hasFlag("--nodeport-addresses=primary")},
	{"--nodeport-addresses CIDRs", hasFlag("--nodeport-addresses=198.19.255.0/24")},
	{"--masquerade-all", hasFlag("--masquerade-all=true")},
	{"--ipvs-strict-arp", hasFlag("--ipvs-strict-arp=true")},
	{"orphan slice", anySlice(func(s *discovery.EndpointSlice) bool { return s.Labels[discovery.LabelServiceName] == "ghost" })},
}

const coverageSeeds = 100

// TestGenerateCoversTheFeatureSpace: every feature of coverage appears in
// the first coverageSeeds seeds.
func TestGenerateCoversTheFeatureSpace(t *testing.T) {
	clusters := make([]*Cluster, coverageSeeds)
	for i := range clusters {
		clusters[i] = Generate(uint64(i))
	}
	for _, f := range coverage {
		t.Run(f.name, func(t *testing.T) {
			n := 0
			for _, c := range clusters {
				if f.has(c) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("no seed of the first %d has it", coverageSeeds)
			}
		})
	}
}

// TestGenerateInvariants: what keeps kube-proxy's own result well defined
// and the API server accepting the objects.
func TestGenerateInvariants(t *testing.T) {
	for seed := range uint64(coverageSeeds) {
		c := Generate(seed)
		ips, nodePorts, vips := map[string]bool{}, map[int32]bool{}, map[string]string{}
		for _, s := range c.Services {
			for _, ip := range s.Spec.ClusterIPs {
				if ip != v1.ClusterIPNone && ips[ip] {
					t.Errorf("seed %d: cluster IP %s twice", seed, ip)
				}
				ips[ip] = true
			}
			for _, p := range s.Spec.Ports {
				if p.NodePort != 0 && (nodePorts[p.NodePort] || p.NodePort < 30000 || p.NodePort > 32767) {
					t.Errorf("seed %d: node port %d reused or out of range", seed, p.NodePort)
				}
				nodePorts[p.NodePort] = true
				for _, a := range append(slices.Clone(s.Spec.ExternalIPs), ingressIPs(withStatus(c, s))...) {
					k := fmt.Sprintf("%s %d/%s", a, p.Port, p.Protocol)
					if o, ok := vips[k]; ok && o != s.Name {
						t.Errorf("seed %d: %s claimed by %s and %s", seed, k, o, s.Name)
					}
					vips[k] = s.Name
				}
			}
		}
		checkDuplicates(t, c)
	}
}

// checkDuplicates: an address listed twice for a service has at most one
// non-terminating copy, or identical copies.
func checkDuplicates(t *testing.T, c *Cluster) {
	t.Helper()
	seen := map[string]discovery.Endpoint{}
	for _, sl := range c.Slices {
		for _, e := range sl.Endpoints {
			k := sl.Labels[discovery.LabelServiceName] + " " + e.Addresses[0]
			if prev, ok := seen[k]; ok && !cmp.Equal(prev, e) && !isTerminating(prev.Conditions) == !isTerminating(e.Conditions) {
				t.Errorf("seed %d: %s twice, both terminating or both not, and different", c.Seed, k)
			}
			seen[k] = e
		}
	}
}

func withStatus(c *Cluster, s *v1.Service) *v1.Service {
	out := s.DeepCopy()
	out.Status = c.Statuses[s.Name]
	return out
}

func anyService(f func(*v1.Service) bool) func(*Cluster) bool {
	return func(c *Cluster) bool { return slices.ContainsFunc(c.Services, f) }
}

func families(f ...v1.IPFamily) func(*v1.Service) bool {
	return func(s *v1.Service) bool {
		return s.Spec.ClusterIP != v1.ClusterIPNone && slices.Equal(s.Spec.IPFamilies, f)
	}
}

func anyPort(f func(v1.ServicePort) bool) func(*Cluster) bool {
	return anyService(func(s *v1.Service) bool { return slices.ContainsFunc(s.Spec.Ports, f) })
}

func anyIngress(f func(v1.LoadBalancerIngress) bool) func(*Cluster) bool {
	return func(c *Cluster) bool {
		for _, st := range c.Statuses {
			if slices.ContainsFunc(st.LoadBalancer.Ingress, f) {
				return true
			}
		}
		return false
	}
}

func anySlice(f func(*discovery.EndpointSlice) bool) func(*Cluster) bool {
	return func(c *Cluster) bool { return slices.ContainsFunc(c.Slices, f) }
}

func anyEndpoint(f func(discovery.Endpoint) bool) func(*Cluster) bool {
	return anySlice(func(s *discovery.EndpointSlice) bool {
		return s.AddressType != discovery.AddressTypeFQDN && slices.ContainsFunc(s.Endpoints, f)
	})
}

func hasFlag(flag string) func(*Cluster) bool {
	return func(c *Cluster) bool { return slices.Contains(c.Flags, flag) }
}

func hasDuplicate(c *Cluster) bool {
	seen := map[string]string{}
	for _, sl := range c.Slices {
		for _, e := range sl.Endpoints {
			k := sl.Labels[discovery.LabelServiceName] + " " + e.Addresses[0]
			if other, ok := seen[k]; ok && other != sl.Name {
				return true
			}
			seen[k] = sl.Name
		}
	}
	return false
}

func sliceNames(c *Cluster) []string {
	var out []string
	for _, s := range c.Slices {
		out = append(out, s.Name)
	}
	return out
}

func orZero(ip string) string {
	if ip == "" {
		return "0.0.0.1" // not special: a hostname-only ingress
	}
	return ip
}
