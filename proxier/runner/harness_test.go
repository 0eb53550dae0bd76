package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// call is one sync as the test saw it.
type call struct {
	At   time.Duration // since the start of the test
	Full bool
}

// harness runs a Runner on a fake clock and records its syncs and polls.
type harness struct {
	t   *testing.T
	clk *clocktesting.FakeClock
	r   *Runner

	mu    sync.Mutex
	syncs []call
	// kinds are the syncs' kinds, in order, never forgotten.
	kinds []Kind
	polls []time.Duration
	// retries are returned by successive syncs (then 0).
	retries []time.Duration
	// during, when set, runs inside the next sync (then is cleared).
	during func()
	// inSync detects a poll running during a sync.
	inSync  bool
	overlap bool

	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a Runner configured by cfg (Clock and, when poll is true,
// Poll filled in) and waits for its first sync to settle.
func start(t *testing.T, cfg Config, poll bool) *harness {
	h := &harness{t: t, clk: clocktesting.NewFakeClock(epoch), done: make(chan struct{})}
	cfg.Clock = h.clk
	if poll {
		cfg.Poll = h.poll
	}
	h.r = New(cfg, h.sync)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		h.r.Run(ctx)
	}()
	t.Cleanup(h.stop)
	h.settle()
	return h
}

func (h *harness) sync(_ context.Context, kind Kind) time.Duration {
	h.mu.Lock()
	h.inSync = true
	h.syncs = append(h.syncs, call{At: h.clk.Since(epoch), Full: kind == Full})
	h.kinds = append(h.kinds, kind)
	during := h.during
	h.during = nil
	var retry time.Duration
	if len(h.retries) > 0 {
		retry, h.retries = h.retries[0], h.retries[1:]
	}
	h.mu.Unlock()
	if during != nil {
		during()
	}
	h.mu.Lock()
	h.inSync = false
	h.mu.Unlock()
	return retry
}

func (h *harness) poll(context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.overlap = h.overlap || h.inSync
	h.polls = append(h.polls, h.clk.Since(epoch))
}

// settle waits until the loop has handled everything the test did and
// blocks on its timer again.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !h.idle() {
		if time.Now().After(deadline) {
			h.t.Fatal("runner did not settle within 5s")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// idle reports whether the loop waits on its timer with no request
// pending. The timer is created, under r.mu, only after all due work, and
// a fired timer leaves the fake clock without waiters until then.
func (h *harness) idle() bool {
	h.r.mu.Lock()
	ok := h.r.blocked && !h.r.trigger && !h.r.triggerCheck
	h.r.mu.Unlock()
	return ok && h.clk.HasWaiters()
}

// step advances the fake clock and lets the loop react.
func (h *harness) step(d time.Duration) {
	h.t.Helper()
	h.clk.Step(d)
	h.settle()
}

// stepTo advances the fake clock to at (since the start) in steps of d.
func (h *harness) stepTo(at, d time.Duration) {
	h.t.Helper()
	for h.clk.Since(epoch) < at {
		h.step(min(d, at-h.clk.Since(epoch)))
	}
}

// trigger calls Trigger n times and lets the loop react.
func (h *harness) trigger(n int) {
	h.t.Helper()
	for range n {
		h.r.Trigger()
	}
	h.settle()
}

// takeSyncs returns and forgets the syncs seen so far.
func (h *harness) takeSyncs() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.syncs
	h.syncs = nil
	return s
}

func (h *harness) takePolls() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.polls
	h.polls = nil
	return p
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.t.Error("Run did not return within 5s of cancel")
	}
}
