package proxier

import (
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// expectNoLocal asserts which ports carry NoLocalEndpoints: the external
// ports whose virtual servers fall back to the cluster's endpoints and whose
// new connections from outside the netfilter program drops.
func expectNoLocal(t testing.TB, st *model.State, vss ...string) {
	t.Helper()
	var got []string
	for _, p := range st.Netfilter.Ports {
		if p.NoLocalEndpoints {
			got = append(got, p.VSKey.String())
		}
	}
	want := make([]string, len(vss))
	for i, vs := range vss {
		want[i] = vsKey(t, vs).String()
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ports without local endpoints %v, want %v", got, want)
	}
}

// externalVSes are the external virtual servers of webLocal.
var externalVSes = []string{"tcp 198.18.5.5:80", "tcp 198.18.6.6:80", "tcp 198.18.1.1:30080"}

// webLocal is a LoadBalancer service with an external IP and
// externalTrafficPolicy Local.
func webLocal(mut ...func(*v1.Service)) []*v1.Service {
	return []*v1.Service{makeService("ns", "web", append([]func(*v1.Service){
		loadBalancer(30080, "198.18.5.5"), externalLocal,
		func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.6.6"} },
	}, mut...)...)}
}

// expectExternal asserts the route and the draining endpoints of every
// external virtual server of webLocal.
func expectExternal(t testing.TB, st *model.State, route, draining []string) {
	t.Helper()
	for _, vs := range externalVSes {
		expectRoute(t, st, vs, route...)
		expectDraining(t, st, vs, draining...)
	}
}

// TestBuildExternalLocalFallback: with externalTrafficPolicy Local and no
// endpoint on this node, the external virtual servers take the cluster's
// endpoints, as kube-proxy's IPVS mode does (pkg/proxy/ipvs/proxier.go,
// syncEndpoint: "onlyNodeLocalEndpoints" without localEndpoints uses
// clusterEndpoints, kubernetes PR 97081), where clusterEndpoints and
// localEndpoints are those of proxy.CategorizeEndpoints
// (pkg/proxy/topology.go): ready endpoints in the topology subset, else
// serving-terminating ones anywhere; this node's ready endpoints, else its
// serving-terminating ones. Their ports are flagged NoLocalEndpoints, so the
// netfilter program drops new connections from outside.
func TestBuildExternalLocalFallback(t *testing.T) {
	remote := func(ip string) discovery.Endpoint { return ep(ip) }
	runBuildCases(t, []buildCase{{
		name:     "a local ready endpoint: external virtual servers take only it, nothing is flagged",
		services: webLocal(),
		slices:   slice("web", ep("198.18.10.1", onNode("node-a")), remote("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, []string{"198.18.10.1:8080"}, nil)
			expectNoLocal(t, st)
		},
	}, {
		name:     "no local endpoint: external virtual servers take the cluster's ready endpoints and are flagged",
		services: webLocal(),
		slices:   slice("web", remote("198.18.10.2"), remote("198.18.10.3"), ep("198.18.10.4", terminating(true))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			// As the cluster IP: ready ones at weight 1, the terminating
			// one drains at weight 0.
			expectExternal(t, st, []string{"198.18.10.2:8080", "198.18.10.3:8080"}, []string{"198.18.10.4:8080"})
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.2:8080", "198.18.10.3:8080")
			expectNoLocal(t, st, externalVSes...)
			if np := st.Netfilter.NodePorts; len(np) != 1 || !np[0].Local {
				t.Errorf("node port intent %v, want one local (not masqueraded)", np)
			}
		},
	}, {
		name:     "a local serving terminating endpoint is local: no fallback (CategorizeEndpoints' local fallback)",
		services: webLocal(),
		slices:   slice("web", remote("198.18.10.2"), ep("198.18.10.3", onNode("node-a"), terminating(true))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, []string{"198.18.10.3:8080"}, nil)
			expectNoLocal(t, st)
		},
	}, {
		name:     "a local terminating endpoint that is not serving does not count: fall back, it drains",
		services: webLocal(),
		slices:   slice("web", remote("198.18.10.2"), ep("198.18.10.3", onNode("node-a"), terminating(false))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, []string{"198.18.10.2:8080"}, []string{"198.18.10.3:8080"})
			expectNoLocal(t, st, externalVSes...)
		},
	}, {
		name:     "no ready endpoint anywhere: the cluster's serving terminating endpoints take new connections",
		services: webLocal(),
		slices:   slice("web", ep("198.18.10.2", terminating(true)), ep("198.18.10.3", terminating(false))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, []string{"198.18.10.2:8080"}, []string{"198.18.10.3:8080"})
			expectNoLocal(t, st, externalVSes...)
		},
	}, {
		name:     "no usable endpoint anywhere: nothing to fall back to, nothing flagged",
		services: webLocal(),
		slices:   slice("web", ep("198.18.10.3", terminating(false)), ep("198.18.10.4", notReady)),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, nil, []string{"198.18.10.3:8080"})
			expectNoLocal(t, st)
		},
	}, {
		name:     "no endpoint at all: empty virtual servers, nothing flagged",
		services: webLocal(),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, nil, nil)
			expectNoLocal(t, st)
		},
	}, {
		name:     "the fallback follows topology hints as the cluster's endpoints do",
		services: webLocal(),
		slices:   slice("web", ep("198.18.10.2", zoneHint("zone-a")), ep("198.18.10.3", zoneHint("zone-b"))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectExternal(t, st, []string{"198.18.10.2:8080"}, nil)
			expectNoLocal(t, st, externalVSes...)
		},
	}, {
		// kube-proxy's IPVS mode falls back on the cluster IP too here:
		// the service is reachable externally, so CategorizeEndpoints
		// computes its clusterEndpoints (UsesClusterEndpoints). The spec
		// says internalTrafficPolicy Local never leaves the node.
		name:     "internalTrafficPolicy Local: the cluster IP keeps no endpoint, the external ones fall back",
		services: webLocal(internalLocal),
		slices:   slice("web", remote("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80")
			expectExternal(t, st, []string{"198.18.10.2:8080"}, nil)
			expectNoLocal(t, st, externalVSes...)
		},
	}, {
		name:     "internalTrafficPolicy Local with externalTrafficPolicy Cluster: only the cluster IP is local",
		services: []*v1.Service{makeService("ns", "web", nodePort(30080), internalLocal)},
		slices:   slice("web", remote("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.2:8080")
			expectNoLocal(t, st)
		},
	}, {
		// kube-proxy runs one proxier per family, each categorizing its
		// own family's endpoints.
		name:     "dual-stack: each family falls back on its own",
		services: []*v1.Service{makeService("ns", "web", nodePort(30080), externalLocal, clusterIPs("198.18.0.10", "fd00::10"))},
		slices: append(slice("web", ep("198.18.10.1", onNode("node-a"))),
			makeSlice("ns", "web", "web-6", []discovery.Endpoint{ep("fd00::a:2")})),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080")
			expectRoute(t, st, "tcp [fd00::1:1]:30080", "[fd00::a:2]:8080")
			expectNoLocal(t, st, "tcp [fd00::1:1]:30080")
		},
	}, {
		name:     "the intent names the flag",
		services: []*v1.Service{makeService("ns", "web", nodePort(30080), externalLocal)},
		slices:   slice("web", remote("198.18.10.2")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			if !slices.Contains(st.Netfilter.Lines(), "port node-port tcp 198.18.1.1:30080 local no-local-endpoints") {
				t.Errorf("netfilter intent:\n%v", st.Netfilter.Lines())
			}
		},
	}})
}

// TestBuildExternalLocalFallbackHealthCheck: the fallback does not change
// the health check: the node still has no local endpoint, so its
// healthCheckNodePort answers 503 and external load balancers avoid it.
func TestBuildExternalLocalFallbackHealthCheck(t *testing.T) {
	svc := webLocal(func(s *v1.Service) { s.Spec.HealthCheckNodePort = 32000 })[0]
	st, problems := BuildService(svc, NewSlices(slice("web", ep("198.18.10.2"))), testNode(), Config{})
	if st.HealthCheckNodePort != 32000 || st.LocalReadyEndpoints != 0 || len(problems) != 0 {
		t.Errorf("health check %d with %d local ready endpoints (%v), want 32000 with 0", st.HealthCheckNodePort, st.LocalReadyEndpoints, problems)
	}
	var flagged int
	for _, p := range st.Ports {
		if p.NoLocalEndpoints {
			flagged++
		}
	}
	if flagged != len(externalVSes) {
		t.Errorf("%d ports flagged, want %d", flagged, len(externalVSes))
	}
}

// TestBuildNoLocalCount checks ServiceState.NoLocal, the input of
// kubeproxy_sync_proxy_rules_no_local_endpoints_total: set per family and
// policy when a node-local policy finds no endpoint on this node while the
// cluster has a ready or serving-terminating one, as kube-proxy's IPVS
// proxier counts (syncEndpoint with hasAnyEndpoints).
func TestBuildNoLocalCount(t *testing.T) {
	dual := clusterIPs("198.18.0.10", "fd00::10")
	v4 := func(i, e bool) [2]NoLocal { return [2]NoLocal{{Internal: i, External: e}} }
	for _, tc := range []struct {
		name string
		svc  *v1.Service
		eps  []discovery.Endpoint
		want [2]NoLocal
	}{
		{"cluster policies are never counted", makeService("ns", "web", loadBalancer(30080, "198.18.5.5")),
			[]discovery.Endpoint{ep("198.18.10.2")}, v4(false, false)},
		{"external Local, remote endpoint only", makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal),
			[]discovery.Endpoint{ep("198.18.10.2")}, v4(false, true)},
		{"external Local, a local endpoint", makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal),
			[]discovery.Endpoint{ep("198.18.10.1", onNode("node-a")), ep("198.18.10.2")}, v4(false, false)},
		{"external Local, no endpoint anywhere", makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal),
			nil, v4(false, false)},
		{"external Local, only a remote not-ready endpoint", makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal),
			[]discovery.Endpoint{ep("198.18.10.2", notReady)}, v4(false, false)},
		{"external Local, a remote serving-terminating endpoint", makeService("ns", "web", loadBalancer(30080, "198.18.5.5"), externalLocal),
			[]discovery.Endpoint{ep("198.18.10.2", terminating(true))}, v4(false, true)},
		{"external Local on a ClusterIP service has no external address", makeService("ns", "web", externalLocal),
			[]discovery.Endpoint{ep("198.18.10.2")}, v4(false, false)},
		{"internal Local, remote endpoint only", makeService("ns", "web", internalLocal),
			[]discovery.Endpoint{ep("198.18.10.2")}, v4(true, false)},
		{"both Local, remote endpoint only", makeService("ns", "web", nodePort(30080), internalLocal, externalLocal),
			[]discovery.Endpoint{ep("198.18.10.2")}, v4(true, true)},
		{"dual-stack: only the family without a local endpoint", makeService("ns", "web", dual, internalLocal),
			[]discovery.Endpoint{ep("198.18.10.2"), ep("fd00::10:1", onNode("node-a"))}, v4(true, false)},
		{"dual-stack: both families", makeService("ns", "web", dual, internalLocal),
			[]discovery.Endpoint{ep("198.18.10.2"), ep("fd00::10:2")},
			[2]NoLocal{{Internal: true}, {Internal: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v4eps, v6eps []discovery.Endpoint
			for _, e := range tc.eps {
				if strings.Contains(e.Addresses[0], ":") {
					v6eps = append(v6eps, e)
				} else {
					v4eps = append(v4eps, e)
				}
			}
			slcs := []*discovery.EndpointSlice{makeSlice("ns", "web", "web-4", v4eps)}
			if v6eps != nil {
				slcs = append(slcs, makeSlice("ns", "web", "web-6", v6eps))
			}
			st, problems := BuildService(tc.svc, NewSlices(slcs), testNode(), Config{})
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			if st.NoLocal != tc.want {
				t.Errorf("NoLocal = %+v, want %+v", st.NoLocal, tc.want)
			}
		})
	}
}
