//go:build e2eguest

package scenarios

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test09Hairpin: a backend reaches its own service, and is balanced to
// itself too (the hairpin case needs masquerade, or its own reply would
// bypass IPVS).
func Test09Hairpin(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	a := pods[0]
	self := e.service("self")
	e.slices(self, ready(a))
	web := e.service("web")
	e.slices(web, readyPods(pods...)...)
	e.daemon()
	for _, v6 := range []bool{false, true} {
		vip := e.clusterIP(self, v6)
		e.waitWeights(vip, "tcp", weights(v6, 1, a))
		e.spread(a.Net, vip, 3, guest.Counts{"a": 3})
		vip = e.clusterIP(web, v6)
		e.waitWeights(vip, "tcp", weights(v6, 1, pods...))
		e.spread(a.Net, vip, 6, evenly(6, pods...))
	}
}

// Test09LocalTrafficPolicy: a LoadBalancer service with
// externalTrafficPolicy Local is sent only to this node's endpoints, with
// the client's address preserved; its health-check node port answers 200
// with the local endpoint count while the node has local endpoints, and 503
// once it has none. Then its load-balancer IP falls back to the cluster's
// endpoints, as kube-proxy's IPVS mode does (for pods of this node, which
// reach it locally), and new connections from outside the cluster are
// dropped (their replies would leave from another node).
func Test09LocalTrafficPolicy(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	a, b := pods[0], pods[1]
	cl := e.client("client", 200)
	lbIP := map[bool]string{false: "198.19.250.30", true: "fd00:30::250:30"}
	svc := e.service("local", loadBalancer(lbIP[false], lbIP[true]), func(s *v1.Service) {
		s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
	})
	if svc.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("the API server allocated no health-check node port")
	}
	elsewhere := endpoint{pod: b, mut: onOtherNode}
	e.slices(svc, ready(a), elsewhere)
	e.daemon()
	v4, _ := guest.NodeIPs()
	health := fmt.Sprintf("http://%s/", netip.AddrPortFrom(v4, uint16(svc.Spec.HealthCheckNodePort)))

	e.checkHealth(cl, health, 200, 1)
	for _, v6 := range []bool{false, true} {
		lb := netip.AddrPortFrom(netip.MustParseAddr(lbIP[v6]), servicePort)
		e.waitWeights(lb, "tcp", weights(v6, 1, a))
		for range 4 {
			conn, err := cl.Dial(lb)
			e.must(err, "connecting to the load-balancer IP")
			name, from, err := conn.AskFrom(guest.DialTimeout)
			conn.Close()
			e.must(err, "asking through the load-balancer IP")
			if name != "a" || from.Addr() != cl.Addr(v6) {
				t.Errorf("%s: %s answered seeing client %s, want a (the local endpoint) seeing %s", family(v6), name, from, cl.Addr(v6))
			}
		}
		t.Logf("%s: the load-balancer IP reached only the local endpoint, with the client's address", family(v6))
	}

	e.slices(svc, endpoint{pod: a, mut: onOtherNode}, elsewhere)
	e.checkHealth(cl, health, 503, 0)
	lb := netip.AddrPortFrom(netip.MustParseAddr(lbIP[false]), servicePort)
	e.waitWeights(lb, "tcp", weights(false, 1, a, b))
	if name, err := cl.Ask(lb); err == nil {
		t.Errorf("the load-balancer IP without local endpoints answered an outside client (%s): want it dropped", name)
	}
}

// checkHealth waits until the health check answers status, with local
// endpoints (count > 0) or none (count 0). ipvs-proxy counts the local
// endpoints of both families, so the exact number is not compared.
func (e *env) checkHealth(ns *guest.Netns, url string, status, count int) {
	e.t.Helper()
	err := guest.Eventually(programTimeout, 100*time.Millisecond, func() (bool, string) {
		code, body, err := ns.HTTPGet(url)
		if err != nil {
			return false, err.Error()
		}
		var h struct {
			LocalEndpoints int `json:"localEndpoints"`
		}
		_ = json.Unmarshal([]byte(body), &h)
		return code == status && (h.LocalEndpoints > 0) == (count > 0), fmt.Sprintf("%d %s", code, body)
	})
	e.must(err, fmt.Sprintf("waiting for %s to answer %d with %d local endpoints", url, status, count))
	e.t.Logf("%s answered %d as expected (local endpoints: %v)", url, status, count > 0)
}

// Test09SourceRanges: a LoadBalancer service with loadBalancerSourceRanges
// answers a client inside the ranges at its load-balancer IP and not one
// outside them, in both families; its cluster IP stays open to both.
func Test09SourceRanges(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b")
	allowed, denied := e.client("allowed", 200), e.client("denied", 201)
	lbIP := map[bool]string{false: "198.19.250.40", true: "fd00:30::250:40"}
	svc := e.service("ranged", loadBalancer(lbIP[false], lbIP[true]), func(s *v1.Service) {
		s.Spec.LoadBalancerSourceRanges = []string{allowed.IPv4.String() + "/32", allowed.IPv6.String() + "/128"}
	})
	e.slices(svc, readyPods(pods...)...)
	e.daemon()
	for _, v6 := range []bool{false, true} {
		lb := netip.AddrPortFrom(netip.MustParseAddr(lbIP[v6]), servicePort)
		e.waitWeights(lb, "tcp", weights(v6, 1, pods...))
		e.spread(allowed, lb, 4, evenly(4, pods...))
		for range 2 {
			if name, err := denied.Ask(lb); err == nil {
				t.Errorf("%s: a client outside loadBalancerSourceRanges reached %s through %s", family(v6), name, lb)
			}
		}
		t.Logf("%s: the client outside loadBalancerSourceRanges was refused at %s", family(v6), lb)
		e.spread(denied, e.clusterIP(svc, v6), 4, evenly(4, pods...))
	}
}

// onOtherNode puts an endpoint on another node.
var onOtherNode = []func(*discovery.Endpoint){k8stest.OnNode(guest.OtherNode)}
