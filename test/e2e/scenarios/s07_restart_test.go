//go:build e2eguest

package scenarios

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// Test07Restart: a client sends short requests without pause, to the
// cluster IPs and the node port of both families, while the daemon is
// killed with SIGKILL and started again. No request fails, and the new
// daemon adopts the kernel state without a single kernel write, neither in
// its first sync nor in the periodic full sync after it.
func Test07Restart(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	cl := e.client("client", 200)
	svc := e.service("web", nodePort)
	e.slices(svc, readyPods(pods...)...)
	e.service("other", loadBalancer("198.19.250.20"), annotate("ipvs-proxy.io/scheduler", "mh"))
	d := e.daemon()
	targets := []netip.AddrPort{e.clusterIP(svc, false), e.clusterIP(svc, true), nodePortOf(svc, false), nodePortOf(svc, true)}
	for _, vip := range targets {
		e.waitWeights(vip, "tcp", weights(vip.Addr().Is6(), 1, pods...))
	}

	load := startLoad(cl, targets)
	time.Sleep(time.Second)
	e.must(d.Kill(), "killing the daemon")
	t.Logf("Killed the daemon with SIGKILL")
	time.Sleep(2 * time.Second)
	d2 := e.daemon()
	t.Logf("The restarted daemon completed its first sync")
	e.checkNoWrites(d2, "its first sync")
	e.waitFullSyncs(2, 30*time.Second)
	e.checkNoWrites(d2, "its periodic full sync")
	ok, failures := load.stop()
	t.Logf("%d requests during the kill and restart", ok)
	for _, f := range failures {
		t.Errorf("Request failed: %s", f)
	}
	if ok < 20 {
		t.Errorf("only %d requests succeeded; the load was too thin to prove anything", ok)
	}
	if found, line := d2.LogContains("Adopted the existing kernel state", "writes=0"); !found {
		t.Errorf("the restarted daemon did not log an adoption with writes=0")
	} else {
		t.Logf("Daemon log: %s", line)
	}
}

// checkNoWrites fails the test if the daemon counted any kernel write.
func (e *env) checkNoWrites(d *guest.Daemon, when string) {
	e.t.Helper()
	m, err := guest.ScrapeMetrics()
	e.must(err, "scraping metrics")
	if w := m["ipvs_proxy_kernel_writes_total"]; w != 0 {
		e.t.Errorf("the restarted daemon made %v kernel writes by %s, want 0", w, when)
	} else {
		e.t.Logf("ipvs_proxy_kernel_writes_total is 0 after %s", when)
	}
}

// waitFullSyncs waits until the daemon has completed n full syncs.
func (e *env) waitFullSyncs(n float64, timeout time.Duration) {
	e.t.Helper()
	err := guest.Eventually(timeout, 200*time.Millisecond, func() (bool, string) {
		m, err := guest.ScrapeMetrics()
		if err != nil {
			return false, err.Error()
		}
		got := m[`ipvs_proxy_syncs_total{result="ok",type="full"}`]
		return got >= n, fmt.Sprintf("%v full syncs", got)
	})
	e.must(err, "waiting for full syncs")
}

// load is a client sending short requests in a loop, round the targets.
type load struct {
	mu       sync.Mutex
	ok       int
	failures []string
	quit     chan struct{}
	done     chan struct{}
}

func startLoad(ns *guest.Netns, targets []netip.AddrPort) *load {
	l := &load{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.quit:
				return
			default:
			}
			addr := targets[i%len(targets)]
			start := time.Now()
			_, err := ns.Ask(addr)
			l.mu.Lock()
			if err != nil {
				l.failures = append(l.failures, fmt.Sprintf("%s at %s after %v: %v", addr, start.Format("15:04:05.000"), time.Since(start), err))
			} else {
				l.ok++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// stop ends the loop and returns the successes and the failures.
func (l *load) stop() (int, []string) {
	close(l.quit)
	<-l.done
	return l.ok, l.failures
}
