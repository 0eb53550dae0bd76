//go:build e2eguest

package scenarios

import (
	"errors"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test11Adoption: kube-proxy itself (the API server's release, IPVS mode)
// programs a dual-stack NodePort service; a client holds connections open
// to backend b through both cluster IPs and sends requests without pause.
// kube-proxy stops (it leaves its state, as during a DaemonSet switch) and
// ipvs-proxy starts on the same node: the held connections keep working,
// no request fails, and traffic is still balanced.
func Test11Adoption(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	cl := e.client("client", 200)
	svc := e.service("web", nodePort)
	e.slices(svc, readyPods(pods...)...)

	kp, err := guest.StartKubeProxy(e.ns + "-kube-proxy")
	e.must(err, "starting kube-proxy")
	e.daemons = append(e.daemons, kp)
	t.Cleanup(func() { _ = kp.Kill() })
	e.must(kp.WaitSynced(syncTimeout), "waiting for kube-proxy's first sync")
	targets := []netip.AddrPort{e.clusterIP(svc, false), e.clusterIP(svc, true), nodePortOf(svc, false), nodePortOf(svc, true)}
	for _, vip := range targets {
		e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...))
		e.spread(cl, vip, 6, evenly(6, pods...))
	}
	t.Logf("kube-proxy programmed the service in both families")
	held := map[netip.AddrPort]*guest.Conn{}
	for _, vip := range targets[:2] {
		held[vip] = e.holdTo(cl, vip, "b")
	}

	load := startLoad(cl, targets)
	time.Sleep(time.Second)
	// kube-proxy does not catch SIGTERM: it dies of it, and leaves its state.
	if err := kp.Stop(30 * time.Second); err != nil && !killedBy(err, syscall.SIGTERM) {
		t.Fatalf("stopping kube-proxy: %v", err)
	}
	t.Logf("Stopped kube-proxy")
	e.checkHeld(held, "kube-proxy stopped")
	d := e.daemon()
	m, err := guest.ScrapeMetrics()
	e.must(err, "scraping metrics")
	_, line := d.LogContains("Adopted the existing kernel state")
	t.Logf("ipvs-proxy took over with %v kernel writes: %s", m["ipvs_proxy_kernel_writes_total"], line)
	time.Sleep(2 * time.Second)
	ok, failures := load.stop()
	t.Logf("%d requests during the switch", ok)
	for _, f := range failures {
		t.Errorf("Request failed: %s", f)
	}
	e.checkHeld(held, "ipvs-proxy took over")
	for _, vip := range targets {
		e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...))
		e.spread(cl, vip, 6, evenly(6, pods...))
	}
}

// killedBy reports whether err says the process died of signal sig.
func killedBy(err error, sig syscall.Signal) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// checkHeld asks on each held connection, which must still reach b.
func (e *env) checkHeld(held map[netip.AddrPort]*guest.Conn, when string) {
	e.t.Helper()
	for vip, c := range held {
		if name, err := c.Ask(5 * time.Second); err != nil || name != "b" {
			e.t.Errorf("%s: the connection held to b through %s answered %q, %v", when, vip, name, err)
		} else {
			e.t.Logf("%s: the connection held to b through %s still works", when, vip)
		}
	}
}
