//go:build e2eguest

package scenarios

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// drainTimeout is the daemon's --drain-timeout in the suite (DaemonArgs).
const drainTimeout = 3 * time.Second

// Test05DeadBackend: a connection is held open to backend b; b's network
// vanishes without a FIN (its veth is deleted, as when a node dies) and its
// endpoint turns not-ready without terminating. b's real server goes to
// weight 0 at once (new connections avoid it) and is deleted when
// --drain-timeout runs out, since its connection never closes; the client's
// pending write then fails with a reset, within the drain timeout plus a TCP
// retransmission or two, never minutes.
func Test05DeadBackend(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	a, b, c := pods[0], pods[1], pods[2]
	cl := e.client("client", 200)
	svc := e.service("web")
	e.slices(svc, readyPods(pods...)...)
	e.daemon()
	vip := e.clusterIP(svc, false)
	e.waitWeights(vip, "tcp", weights(false, 1, pods...))
	held := e.holdTo(cl, vip, "b")

	e.must(b.Net.Cut(), "cutting b off")
	start := time.Now() // before the write: the daemon may see it before the API's answer reaches us
	e.slices(svc, ready(a), notReady(b), ready(c))
	type result struct {
		err   error
		after time.Duration
	}
	done := make(chan result, 1)
	go func() {
		_, err := held.Ask(60 * time.Second)
		done <- result{err, time.Since(start)}
	}()

	took := e.waitWeights(vip, "tcp", with(weights(false, 1, a, c), weights(false, 0, b)))
	t.Logf("Not-ready b went to weight 0 after %v", took)
	e.spread(cl, vip, 10, evenly(10, a, c))
	e.waitWeights(vip, "tcp", weights(false, 1, a, c))
	deleted := time.Since(start)
	t.Logf("b's real server was deleted %v after b turned not-ready (drain timeout %v)", deleted, drainTimeout)
	if deleted < drainTimeout {
		t.Errorf("b's real server was deleted after %v, before the drain timeout %v ran out: it still had a connection", deleted, drainTimeout)
	}

	r := <-done
	limit := drainTimeout + 10*time.Second
	switch {
	case r.err == nil:
		t.Errorf("the connection held to dead b answered, want a failure")
	case errors.Is(r.err, os.ErrDeadlineExceeded):
		t.Errorf("the connection held to dead b hung for %v, want a reset", r.after)
	case !errors.Is(r.err, syscall.ECONNRESET):
		t.Errorf("the connection held to dead b failed with %v, want a reset", r.err)
	case r.after < drainTimeout:
		t.Errorf("the connection held to dead b failed after %v, before its real server was deleted: "+
			"something else reset it (%v)", r.after, r.err)
	case r.after > limit:
		t.Errorf("the connection held to dead b failed after %v, want within %v", r.after, limit)
	default:
		t.Logf("The connection held to dead b failed %v after b turned not-ready: %v", r.after, r.err)
	}
}
