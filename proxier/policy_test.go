package proxier

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func slice(svc string, eps ...discovery.Endpoint) []*discovery.EndpointSlice {
	return []*discovery.EndpointSlice{makeSlice("ns", svc, svc+"-1", eps)}
}

func TestBuildEndpointWeights(t *testing.T) {
	web := []*v1.Service{makeService("ns", "web")}
	runBuildCases(t, []buildCase{{
		name:     "ready endpoints take new connections at weight 1",
		services: web,
		slices:   slice("web", ep("198.18.10.1"), ep("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80")
		},
	}, {
		name:     "terminating endpoints stay at weight 0 so their connections finish",
		services: web,
		slices:   slice("web", ep("198.18.10.1"), ep("198.18.10.2", terminating(true)), ep("198.18.10.3", terminating(false))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80", "198.18.10.2:8080", "198.18.10.3:8080")
		},
	}, {
		name:     "with no ready endpoint, serving terminating ones take new connections (KEP-1669)",
		services: web,
		slices:   slice("web", ep("198.18.10.2", terminating(true)), ep("198.18.10.3", terminating(false))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.2:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80", "198.18.10.3:8080")
		},
	}, {
		name:     "not ready and not terminating endpoints are not real servers",
		services: web,
		slices:   slice("web", ep("198.18.10.1"), ep("198.18.10.4", notReady)),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80")
		},
	}, {
		name:     "an endpoint listed in two slices is kept once, ready copy preferred",
		services: web,
		slices: []*discovery.EndpointSlice{
			makeSlice("ns", "web", "web-a", []discovery.Endpoint{ep("198.18.10.1", notReady)}),
			makeSlice("ns", "web", "web-b", []discovery.Endpoint{ep("198.18.10.1")}),
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
		},
	}, {
		name:     "slice ports match service ports by name and protocol",
		services: []*v1.Service{makeService("ns", "web", func(s *v1.Service) { s.Spec.Ports[0].Name = "other" })},
		slices:   slice("web", ep("198.18.10.1")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80")
		},
	}})
}

func TestBuildTrafficPolicies(t *testing.T) {
	eps := slice("web", ep("198.18.10.1", onNode("node-a")), ep("198.18.10.2"),
		ep("198.18.10.3", onNode("node-a"), terminating(true)), ep("198.18.10.4", terminating(true)))
	runBuildCases(t, []buildCase{{
		name:     "externalTrafficPolicy Local: external virtual servers get this node's endpoints, cluster IP all",
		services: []*v1.Service{makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal, func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.6.6"} })},
		slices:   eps,
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80", "198.18.10.3:8080", "198.18.10.4:8080")
			for _, vs := range []string{"tcp 198.18.5.5:80", "tcp 198.18.6.6:80", "tcp 198.18.1.1:30080"} {
				expectRoute(t, st, vs, "198.18.10.1:8080")
				expectDraining(t, st, vs, "198.18.10.3:8080")
			}
		},
	}, {
		name:     "externalTrafficPolicy Local with only a serving terminating local endpoint falls back to it",
		services: []*v1.Service{makeService("ns", "web", nodePort(30080), externalLocal)},
		slices:   slice("web", ep("198.18.10.2"), ep("198.18.10.3", onNode("node-a"), terminating(true))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.3:8080")
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.2:8080")
		},
	}, {
		name:     "internalTrafficPolicy Local: the cluster IP gets only this node's endpoints",
		services: []*v1.Service{makeService("ns", "web", internalLocal, nodePort(30080))},
		slices:   eps,
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
			expectDraining(t, st, "tcp 198.18.0.10:80", "198.18.10.3:8080")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
		},
	}})
}

func TestBuildTopology(t *testing.T) {
	web := []*v1.Service{makeService("ns", "web")}
	runBuildCases(t, []buildCase{{
		name:     "zone hints select this zone's endpoints",
		services: web,
		slices:   slice("web", ep("198.18.10.1", zoneHint("zone-a")), ep("198.18.10.2", zoneHint("zone-b"))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
		},
	}, {
		name:     "node hints (PreferSameNode) select this node's endpoints",
		services: web,
		slices: slice("web", ep("198.18.10.1", nodeHint("node-a"), zoneHint("zone-a")),
			ep("198.18.10.2", nodeHint("node-b"), zoneHint("zone-a"))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
		},
	}, {
		name:     "an endpoint without hints disables topology",
		services: web,
		slices:   slice("web", ep("198.18.10.1", zoneHint("zone-a")), ep("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
		},
	}, {
		name:     "no endpoint for this zone falls back to all",
		services: web,
		slices:   slice("web", ep("198.18.10.1", zoneHint("zone-c")), ep("198.18.10.2", zoneHint("zone-b"))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
		},
	}, {
		name:     "a node without a zone label ignores zone hints",
		services: web,
		slices:   slice("web", ep("198.18.10.1", zoneHint("zone-a")), ep("198.18.10.2", zoneHint("zone-b"))),
		node:     func(n *Node) { n.Labels = nil },
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
		},
	}, {
		name:     "hints of not-ready endpoints do not count",
		services: web,
		slices:   slice("web", ep("198.18.10.1", zoneHint("zone-a")), ep("198.18.10.2", zoneHint("zone-b")), ep("198.18.10.3", notReady)),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
		},
	}})
}

func TestBuildHairpinAndNetfilter(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name: "local endpoints are hairpin entries; ports carry kind, locality and source ranges",
		services: []*v1.Service{makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal, func(s *v1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"198.18.100.0/24", " 198.18.101.7/32 "}
		})},
		slices: []*discovery.EndpointSlice{twoBackends("web")},
		cfg:    Config{MasqueradeAll: true},
		check: func(t *testing.T, st *model.State, p []Problem) {
			want := []string{
				"masquerade-all true",
				"port cluster-ip tcp 198.18.0.10:80",
				"port node-port tcp 198.18.1.1:30080 local",
				"port load-balancer tcp 198.18.5.5:80 local source-ranges 198.18.100.0/24,198.18.101.7/32",
				"node-port tcp 30080 local",
				"hairpin tcp 198.18.10.1:8080",
			}
			got := st.Netfilter.Lines()
			if len(got) != len(want) {
				t.Fatalf("netfilter intent:\n%v\nwant:\n%v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("line %d = %q, want %q", i, got[i], want[i])
				}
			}
			expectProblems(t, p)
		},
	}})
}

func TestBuildHealthCheckNodePort(t *testing.T) {
	svc := makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal, func(s *v1.Service) {
		s.Spec.HealthCheckNodePort = 32000
	})
	sl := slice("web", ep("198.18.10.1", onNode("node-a")), ep("198.18.10.2"),
		ep("198.18.10.3", onNode("node-a"), terminating(true)))
	st, problems := BuildService(svc, NewSlices(sl), testNode(), Config{})
	if st.HealthCheckNodePort != 32000 || st.LocalReadyEndpoints != 1 || len(problems) != 0 {
		t.Errorf("health check %d with %d local ready endpoints (%v), want 32000 with 1", st.HealthCheckNodePort, st.LocalReadyEndpoints, problems)
	}
	// A dual-stack pod is in an IPv4 and an IPv6 slice; kube-proxy counts
	// each family apart, so it is one local endpoint, not two.
	dual := makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal, clusterIPs("198.18.0.10", "fd00::10"),
		func(s *v1.Service) { s.Spec.HealthCheckNodePort = 32000 })
	dualSlices := append(slice("web", ep("198.18.10.1", onNode("node-a"))),
		makeSlice("ns", "web", "web-6", []discovery.Endpoint{ep("fd00::a:1", onNode("node-a"))}))
	if st, _ := BuildService(dual, NewSlices(dualSlices), testNode(), Config{}); st.LocalReadyEndpoints != 1 {
		t.Errorf("dual-stack: %d local ready endpoints, want 1", st.LocalReadyEndpoints)
	}
	cluster, _ := BuildService(makeService("ns", "web", loadBalancer(30080), func(s *v1.Service) { s.Spec.HealthCheckNodePort = 32000 }), NewSlices(sl), testNode(), Config{})
	if cluster.HealthCheckNodePort != 0 {
		t.Errorf("externalTrafficPolicy Cluster got a health check port")
	}
}
