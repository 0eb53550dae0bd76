//go:build e2eguest

package scenarios

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test08APIServerRestart: while the API server is away, first stopped
// gracefully and restarted, then killed with SIGKILL and started again after
// an outage, a client's requests keep succeeding and the kernel state stays
// as it was; changes made once the API server is back are programmed.
func Test08APIServerRestart(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	a, b, c := pods[0], pods[1], pods[2]
	cl := e.client("client", 200)
	svc := e.service("web")
	e.slices(svc, readyPods(pods...)...)
	d := e.daemon()
	targets := []netip.AddrPort{e.clusterIP(svc, false), e.clusterIP(svc, true)}
	for _, vip := range targets {
		e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...))
	}

	outages := []struct {
		name     string
		down, up string
	}{
		{"graceful restart", guest.HostRestartAPIServer, ""},
		{"SIGKILL and a 5s outage", guest.HostKillAPIServer, guest.HostStartAPIServer},
	}
	for _, o := range outages {
		load := startLoad(cl, targets)
		start := time.Now()
		e.must(guest.AskHost(o.down, 2*time.Minute), o.name)
		if o.up != "" {
			time.Sleep(5 * time.Second)
			for _, vip := range targets {
				e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...)) // unchanged
			}
			e.must(guest.AskHost(o.up, 2*time.Minute), o.name)
		}
		t.Logf("%s: the API server is back after %v", o.name, time.Since(start).Round(time.Millisecond))
		time.Sleep(time.Second)
		ok, failures := load.stop()
		t.Logf("%s: %d requests, %d failed", o.name, ok, len(failures))
		for _, f := range failures {
			t.Errorf("%s: request failed: %s", o.name, f)
		}
		if d.Exited() {
			t.Fatalf("%s: the daemon exited", o.name)
		}
	}

	// Changes made after the API server returned reach the kernel: c goes,
	// and a new service appears.
	e.slices(svc, ready(a), ready(b))
	for _, vip := range targets {
		took := e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, a, b))
		t.Logf("%s: c's removal was programmed after %v", vip, took)
		e.spread(cl, vip, 10, evenly(10, a, b))
	}
	after := e.service("after")
	e.slices(after, ready(c))
	vip := e.clusterIP(after, false)
	took := e.waitWeights(vip, "tcp", weights(false, 1, c))
	t.Logf("A service created after the outages was programmed after %v", took)
	e.spread(cl, vip, 3, guest.Counts{"c": 3})
}
