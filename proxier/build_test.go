package proxier

import (
	"net/netip"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// buildCase is one semantic rule: inputs, then behaviour assertions.
type buildCase struct {
	name     string
	services []*v1.Service
	slices   []*discovery.EndpointSlice
	node     func(*Node)
	cfg      Config
	check    func(t *testing.T, st *model.State, problems []Problem)
}

func runBuildCases(t *testing.T, cases []buildCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := testNode()
			if tc.node != nil {
				tc.node(&node)
			}
			st, problems := Build(tc.services, tc.slices, node, tc.cfg)
			tc.check(t, st, problems)
			checkInvariants(t, st, node)
		})
	}
}

// twoBackends is the slice most cases use: one endpoint on this node, one
// elsewhere.
func twoBackends(svc string) *discovery.EndpointSlice {
	return makeSlice("ns", svc, svc+"-1", []discovery.Endpoint{ep("198.18.10.1", onNode("node-a")), ep("198.18.10.2")})
}

func TestBuildServiceTypes(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name:     "cluster IP balances over all ready endpoints and is bound",
		services: []*v1.Service{makeService("ns", "web")},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10")
			expectProblems(t, p)
		},
	}, {
		name:     "every cluster IP of a dual-stack service gets its family's endpoints",
		services: []*v1.Service{makeService("ns", "web", clusterIPs("198.18.0.10", "fd00::10"))},
		slices: []*discovery.EndpointSlice{twoBackends("web"),
			makeSlice("ns", "web", "web-6", []discovery.Endpoint{ep("fd00::a:1")})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp [fd00::10]:80", "[fd00::a:1]:8080")
			expectAddresses(t, st, "198.18.0.10", "fd00::10")
		},
	}, {
		name:     "a family the node has no address in gets nothing",
		services: []*v1.Service{makeService("ns", "web", clusterIPs("198.18.0.10", "fd00::10"), nodePort(30080))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		node:     func(n *Node) { n.IPs = n.IPs[:1] },
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectNoVS(t, st, "tcp [fd00::10]:80")
			expectNoVS(t, st, "tcp [fd00::1:1]:30080")
			expectAddresses(t, st, "198.18.0.10")
			expectProblems(t, p)
		},
	}, {
		name:     "node port gets a virtual server per node address, unbound",
		services: []*v1.Service{makeService("ns", "web", nodePort(30080))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		node: func(n *Node) {
			n.NodePortIPs = slices.Concat(n.IPs, []netip.Addr{mustAddr("198.18.2.1")})
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.2.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectNoVS(t, st, "tcp [fd00::1:1]:30080") // the service is IPv4 only
			expectAddresses(t, st, "198.18.0.10")
			if len(st.Netfilter.NodePorts) != 1 || st.Netfilter.NodePorts[0] != (model.NodePort{Proto: model.TCP, Port: 30080}) {
				t.Errorf("node ports intent %v", st.Netfilter.NodePorts)
			}
		},
	}, {
		name:     "load balancer ingress IPs are bound and balanced, with the node port",
		services: []*v1.Service{makeService("ns", "web", loadBalancer(30080, "198.18.5.5"))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.5.5:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.5.5")
		},
	}, {
		name: "load balancer ingress with ipMode Proxy is neither balanced nor bound",
		services: []*v1.Service{makeService("ns", "web", loadBalancer(0, "198.18.5.5", "198.18.5.6"), func(s *v1.Service) {
			s.Status.LoadBalancer.Ingress[0].IPMode = ptr.To(v1.LoadBalancerIPModeProxy)
		})},
		slices: []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectNoVS(t, st, "tcp 198.18.5.5:80")
			expectRoute(t, st, "tcp 198.18.5.6:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.5.6")
		},
	}, {
		name:     "external IPs are bound and balanced",
		services: []*v1.Service{makeService("ns", "web", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.6.6"} })},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.6.6:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.6.6")
		},
	}, {
		name: "UDP and SCTP ports get virtual servers of their protocol",
		services: []*v1.Service{makeService("ns", "dns", func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}, {Name: "sig", Port: 3868, Protocol: v1.ProtocolSCTP}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns", "dns", "dns-1", []discovery.Endpoint{ep("198.18.10.1")}, func(sl *discovery.EndpointSlice) {
			sl.Ports = []discovery.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(v1.ProtocolUDP)},
				{Name: ptr.To("sig"), Port: ptr.To[int32](3868), Protocol: ptr.To(v1.ProtocolSCTP)}}
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "udp 198.18.0.10:53", "198.18.10.1:5353")
			expectRoute(t, st, "sctp 198.18.0.10:3868", "198.18.10.1:3868")
			expectNoVS(t, st, "tcp 198.18.0.10:53")
		},
	}, {
		name:     "a port without endpoints still gets its virtual server",
		services: []*v1.Service{makeService("ns", "web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80")
			expectProblems(t, p)
		},
	}})
}

func TestBuildIgnoredServices(t *testing.T) {
	proxyName := func(v string) func(*v1.Service) {
		return func(s *v1.Service) { s.Labels = map[string]string{LabelServiceProxyName: v} }
	}
	services := []*v1.Service{
		makeService("ns", "headless", clusterIPs("None")),
		makeService("ns", "ext", func(s *v1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ServiceTypeExternalName, "db.example", "", nil
		}),
		makeService("ns", "other", proxyName("other-proxy"), clusterIPs("198.18.0.11")),
		makeService("ns", "ours", proxyName("ipvs-proxy"), clusterIPs("198.18.0.12")),
	}
	slices := []*discovery.EndpointSlice{twoBackends("headless"), twoBackends("other"), twoBackends("ours")}
	runBuildCases(t, []buildCase{{
		name:     "headless, ExternalName and other proxies' services are ignored",
		services: services, slices: slices,
		check: func(t *testing.T, st *model.State, p []Problem) {
			if len(st.Services) != 0 || len(st.Addresses) != 0 {
				t.Errorf("expected nothing, got:\n%s", st.Dump("kube-ipvs0"))
			}
			expectProblems(t, p)
		},
	}, {
		name:     "with --service-proxy-name only the named services are handled",
		services: services, slices: slices, cfg: Config{ServiceProxyName: "ipvs-proxy"},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.12:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectNoVS(t, st, "tcp 198.18.0.11:80")
			expectAddresses(t, st, "198.18.0.12")
		},
	}, {
		name:     "a selector-less service uses slices carrying its service-name label",
		services: []*v1.Service{makeService("ns", "manual", func(s *v1.Service) { s.Spec.Selector = nil })},
		slices:   []*discovery.EndpointSlice{makeSlice("ns", "manual", "manual-custom", []discovery.Endpoint{ep("198.18.20.1")})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.20.1:8080")
		},
	}})
}

func TestBuildSessionAffinity(t *testing.T) {
	affinity := func(timeout *int32) func(*v1.Service) {
		return func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			if timeout != nil {
				s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: timeout}}
			}
		}
	}
	vsOf := func(t *testing.T, st *model.State) model.VirtualServer {
		return st.Services[vsKey(t, "tcp 198.18.0.10:80")].VirtualServer
	}
	runBuildCases(t, []buildCase{{
		name:     "ClientIP affinity makes a persistent virtual server with the default timeout",
		services: []*v1.Service{makeService("ns", "web", affinity(nil))},
		check: func(t *testing.T, st *model.State, p []Problem) {
			if vs := vsOf(t, st); !vs.Persistent() || vs.Timeout != 10800 {
				t.Errorf("got %+v, want persistent 10800", vs)
			}
		},
	}, {
		name:     "ClientIP affinity honours timeoutSeconds",
		services: []*v1.Service{makeService("ns", "web", affinity(ptr.To[int32](60)))},
		check: func(t *testing.T, st *model.State, p []Problem) {
			if vs := vsOf(t, st); !vs.Persistent() || vs.Timeout != 60 {
				t.Errorf("got %+v, want persistent 60", vs)
			}
		},
	}, {
		name:     "no affinity, no persistence",
		services: []*v1.Service{makeService("ns", "web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			if vs := vsOf(t, st); vs.Persistent() || vs.Timeout != 0 {
				t.Errorf("got %+v, want not persistent", vs)
			}
		},
	}})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
