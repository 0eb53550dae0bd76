//go:build e2eguest

package scenarios

import (
	_ "embed"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test01Balancing: a dual-stack LoadBalancer service with external IPs and
// three backends is reached, and balanced round-robin, at each of its
// addresses: the cluster IP (from an outside client and from the node
// itself), the node port on the node's address, the load-balancer ingress IP
// and the external IP, in both families. Then the daemon's /metrics has what
// the kubernetes-mixin's kube-proxy dashboard and alerts select.
func Test01Balancing(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	cl := e.client("client", 200)
	lb := map[bool]string{false: "198.19.250.10", true: "fd00:30::250:10"}
	ext := map[bool]string{false: "198.19.251.10", true: "fd00:30::251:10"}
	svc := e.service("web", loadBalancer(lb[false], lb[true]), externalIPs(ext[false], ext[true]))
	// The daemon runs before the endpoints appear, so that their
	// programming is timed (kubeproxy_network_programming_duration_seconds).
	e.daemon()
	e.slices(svc, readyPods(pods...)...)

	for _, v6 := range []bool{false, true} {
		port := uint16(servicePort)
		addrs := []struct {
			name string
			addr netip.AddrPort
		}{
			{"cluster IP", e.clusterIP(svc, v6)},
			{"node port", nodePortOf(svc, v6)},
			{"load-balancer IP", netip.AddrPortFrom(netip.MustParseAddr(lb[v6]), port)},
			{"external IP", netip.AddrPortFrom(netip.MustParseAddr(ext[v6]), port)},
		}
		for _, a := range addrs {
			took := e.waitWeights(a.addr, "tcp", weights(v6, 1, pods...))
			t.Logf("%s %s %s: 3 real servers (waited %v)", family(v6), a.name, a.addr, took)
			e.spread(cl, a.addr, 30, evenly(30, pods...))
		}
		// The node itself reaches the cluster IP (the OUTPUT path).
		e.spread(guest.Node, addrs[0].addr, 6, evenly(6, pods...))
	}
	e.checkMixinSeries()
}

// mixinSeries lists the series the kubernetes-mixin's kube-proxy queries
// select and the labels they need; test/monitoring derives it from the
// queries (go test -update there).
//
//go:embed testdata/mixin-series.txt
var mixinSeries string

// checkMixinSeries scrapes the daemon's /metrics, parsed as Prometheus parses
// it, and fails the test unless every series of mixinSeries has a sample
// with the labels it needs. After real traffic and a real API server, that
// includes client-go's rest_client_* series.
func (e *env) checkMixinSeries() {
	e.t.Helper()
	needs, err := guest.ParseSeriesNeeds(mixinSeries)
	e.must(err, "reading testdata/mixin-series.txt")
	families, err := guest.ScrapeFamilies()
	e.must(err, "scraping /metrics")
	found, err := guest.CheckSeries(guest.SeriesOf(families), needs)
	for _, f := range found {
		e.t.Logf("mixin series %s", f)
	}
	if err != nil {
		e.t.Errorf("/metrics lacks what the kubernetes-mixin's kube-proxy queries select:\n%v", err)
	}
}
