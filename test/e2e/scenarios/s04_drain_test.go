//go:build e2eguest

package scenarios

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// resetWithin bounds how long a held connection to a removed backend may take
// to fail: the next packet finds its destination gone, IPVS expires the
// connection (expire_nodest_conn=1) and the client gets a reset on a
// retransmission, not a blackhole until TCP gives up (~15 minutes).
const resetWithin = 3 * time.Second

// Test04GracefulDrain: a connection is held open to backend b. b turns
// terminating (still serving): its real server goes to weight 0, new
// connections avoid it, the held connection keeps working. b's endpoint is
// then removed: its real server is deleted at once and the held connection
// fails on its next write, within a second or two, instead of hanging.
func Test04GracefulDrain(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	a, b, c := pods[0], pods[1], pods[2]
	cl := e.client("client", 200)
	svc := e.service("web")
	e.slices(svc, readyPods(pods...)...)
	e.daemon()
	for _, v6 := range []bool{false, true} {
		vip := e.clusterIP(svc, v6)
		e.waitWeights(vip, "tcp", weights(v6, 1, pods...))
		held := e.holdTo(cl, vip, "b")

		e.slices(svc, ready(a), terminating(b), ready(c))
		took := e.waitWeights(vip, "tcp", with(weights(v6, 1, a, c), weights(v6, 0, b)))
		t.Logf("%s: terminating b went to weight 0 after %v", family(v6), took)
		e.spread(cl, vip, 20, evenly(20, a, c))
		name, err := held.Ask(5 * time.Second)
		if err != nil || name != "b" {
			t.Fatalf("%s: the connection held to terminating b answered %q, %v; want b", family(v6), name, err)
		}
		t.Logf("%s: the connection held to terminating b still works", family(v6))

		e.slices(svc, ready(a), ready(c))
		took = e.waitWeights(vip, "tcp", weights(v6, 1, a, c))
		t.Logf("%s: b's real server was deleted %v after its endpoint was removed", family(v6), took)
		if took > 2*time.Second {
			t.Errorf("%s: deleting b's real server took %v, want it at the next sync", family(v6), took)
		}
		start := time.Now()
		name, err = held.Ask(30 * time.Second)
		failed := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s: the connection held to removed b answered %q, want a reset", family(v6), name)
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("%s: the connection held to removed b hung for %v (blackholed), want a reset", family(v6), failed)
		case !errors.Is(err, syscall.ECONNRESET):
			t.Errorf("%s: the connection held to removed b failed with %v, want a reset", family(v6), err)
		case failed > resetWithin:
			t.Errorf("%s: the connection held to removed b failed after %v (%v), want within %v", family(v6), failed, err, resetWithin)
		default:
			t.Logf("%s: the connection held to removed b failed after %v: %v", family(v6), failed, err)
		}
		e.spread(cl, vip, 10, evenly(10, a, c))
		e.slices(svc, readyPods(pods...)...) // b back for the next family
	}
}
