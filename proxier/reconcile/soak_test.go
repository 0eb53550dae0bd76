package reconcile

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// soak drives an engine on the fakes through random churn while every
// kernel call may fail.
type soak struct {
	*rig
	rng *rand.Rand
	// pending are the services changed but not yet handed to the engine.
	pending map[types.NamespacedName]bool
	// counters for the report
	iterations, syncs, steps, fulls, polls, drifts, restarts, orphans int
	// objectErrors counts the object errors the engine reported, by reason.
	objectErrors map[string]int
	// drifted is set when the kernel was changed behind the engine's back
	// since its last full read of it: until then the engine's belief
	// (the applied state) may differ from the kernel.
	drifted bool
	// unknown are the virtual servers the engine had no claim to since its
	// last full read (see expectBelief).
	unknown map[model.VSKey]bool
	// log keeps the engine's last log lines with IPVS_PROXY_SOAK_LOG set,
	// printed on failure.
	log *logRing
}

// logRing keeps the last lines written to it.
type logRing struct{ lines []string }

func (l *logRing) Write(p []byte) (int, error) {
	if len(l.lines) >= 5000 {
		l.lines = slices.Delete(l.lines, 0, 1000)
	}
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// soakSettings reads how long the soak churns (IPVS_PROXY_SOAK, a
// duration; a few seconds by default so that `make test` stays fast) and
// its seed (IPVS_PROXY_SOAK_SEED; random by default). IPVS_PROXY_SOAK_LOG=1
// prints the engine's last log lines (V(5): every kernel operation) on
// failure.
func soakSettings(t *testing.T) (time.Duration, uint64) {
	d := 2 * time.Second
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	if v := os.Getenv("IPVS_PROXY_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("IPVS_PROXY_SOAK=%q: %v", v, err)
		}
	}
	seed := rand.Uint64()
	if v := os.Getenv("IPVS_PROXY_SOAK_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("IPVS_PROXY_SOAK_SEED=%q: %v", v, err)
		}
	}
	return d, seed
}

// TestSoakFaults churns Services and EndpointSlices of every kind through
// Sync, Repair, Full and PollDrains, with restarts, node changes, drift and
// connection counters on the side, while every kind of kernel call fails at
// random (transient errors, or one subsystem down for a while) and three
// objects are refused (EINVAL). After every engine call: what the engine
// believes it applied is what the fakes hold, and every pending object has
// a retry scheduled, none overdue after a sync. Then the faults stop: after
// the longest backoff and a repair cycle only the refused objects may be
// failed and everything else must be as proxier.Build says; once they get
// a new chance (a rebuild, as after a node update) the whole kernel must be
// as built, with no status left, and the heap back to what the same
// objects took before the churn. A failure prints the seed:
// IPVS_PROXY_SOAK_SEED replays the churn and the fault draws (the engine's
// map order may still vary which calls fail).
func TestSoakFaults(t *testing.T) {
	duration, seed := soakSettings(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with IPVS_PROXY_SOAK_SEED=%d IPVS_PROXY_SOAK=%v", seed, duration)
		}
	})
	s := newSoak(t, seed)
	initial := s.snapshot()
	heap0, goroutines0 := heapAlloc(), runtime.NumGoroutine()

	start := time.Now()
	for time.Since(start) < duration {
		if s.iterations%200 == 0 {
			s.setFaults(randomPhase(s.rng))
		}
		s.step()
		s.iterations++
	}
	churned := time.Since(start)

	settled, wall := s.converge()
	s.restore(initial)
	s.converge()
	heap1 := heapAlloc()
	t.Logf("soak (seed %d): %d iterations in %v (%d syncs, %d repair steps, %d fulls, %d drain polls, %d drifts, %d restarts); "+
		"%d kernel calls failed by injection; object errors %v; %d orphans deleted by hand; after the faults stopped the refused objects were "+
		"all that was left after %v of fake time and the kernel converged in %v of wall time; heap %d KiB before the churn, %d KiB after",
		seed, s.iterations, churned.Round(time.Millisecond), s.syncs, s.steps, s.fulls, s.polls, s.drifts, s.restarts,
		s.injected(), s.objectErrors, s.orphans, settled, wall.Round(time.Millisecond), heap0>>10, heap1>>10)
	s.expectNoLeak(heap0, heap1, goroutines0)
}

func newSoak(t *testing.T, seed uint64) *soak {
	r := newRig(t)
	// Discard the engine's logs: the soak fails thousands of calls.
	r.ctx = klog.NewContext(context.Background(), klog.Logger{})
	var log *logRing
	if os.Getenv("IPVS_PROXY_SOAK_LOG") != "" {
		log = &logRing{}
		r.ctx = klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(
			textlogger.Verbosity(5), textlogger.Output(log))))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the engine's last %d log lines:\n%s", len(log.lines), strings.Join(log.lines, ""))
			}
		})
	}
	r.chunk = 4 // repair cycles of several steps, with the netfilter read-back in a goroutine
	r.restart()
	s := &soak{rig: r, rng: rand.New(rand.NewPCG(seed, seed>>1)), pending: map[types.NamespacedName]bool{},
		objectErrors: map[string]int{}, unknown: map[model.VSKey]bool{}, log: log}
	for i, f := range []interface{ SeedFaults(uint64) }{r.ipvs, r.addr, r.nf, r.ct} {
		f.SeedFaults(seed + uint64(i))
	}
	for i := range soakSlots {
		if s.rng.IntN(4) > 0 {
			svc, sls := randomService(s.rng, i)
			r.src.put(svc, sls...)
		}
	}
	r.full()
	s.expectConverged("the first sync, before any fault")
	return s
}

// step does one random thing: change services, call the engine the way
// the runner does, move the clock, add traffic or drift.
func (s *soak) step() {
	ctx := s.ctx
	x := s.rng.IntN(100)
	if s.log != nil {
		fmt.Fprintf(s.log, "=== iteration %d, step %d, at %v\n", s.iterations, x, s.clock.Now().Sub(k8stest.Epoch))
	}
	switch {
	case x < 35:
		s.churn()
		if s.rng.IntN(3) > 0 {
			s.syncs++
			s.check("sync", s.eng.Sync(ctx, s.take()))
		}
	case x < 50:
		s.syncs++
		s.check("sync", s.eng.Sync(ctx, s.take()))
	case x < 66:
		s.steps++
		res, _ := s.eng.Repair(ctx, s.take())
		s.check("repair step", res)
	case x < 69:
		s.fulls++
		s.check("full", s.eng.Full(ctx, s.take(), s.rng.IntN(5) == 0))
	case x < 77:
		s.polls++
		s.eng.PollDrains(ctx)
		s.expectBelief("drain poll")
	case x < 84:
		s.traffic()
	case x < 86:
		s.drift()
	case x < 87 && s.rng.IntN(2) == 0:
		s.nodeChange()
	case x < 87:
		// The daemon restarts: a new engine adopts the kernel.
		s.restarts++
		s.restart()
	default:
		s.advance()
	}
}

// take returns the changed services and forgets them.
func (s *soak) take() []types.NamespacedName {
	out := slices.SortedFunc(maps.Keys(s.pending), func(a, b types.NamespacedName) int {
		return strings.Compare(a.String(), b.String())
	})
	clear(s.pending)
	return out
}

// expectStats asserts that the counts Stats keeps as the applied state
// changes are those of a walk of it.
func (s *soak) expectStats(what string) {
	s.t.Helper()
	reals := 0
	for _, svc := range s.eng.applied.Services {
		reals += len(svc.Reals)
	}
	if vs, rs, _ := s.eng.Stats(); vs != len(s.eng.applied.Services) || rs != reals {
		s.t.Fatalf("iteration %d, %s: Stats counts %d virtual and %d real servers, the applied state holds %d and %d",
			s.iterations, what, vs, rs, len(s.eng.applied.Services), reals)
	}
}

// check asserts what must hold after every sync, faults or not: objects
// pending a retry have one scheduled, and, after an incremental sync, none
// of them is overdue (Sync retries whatever is due; only the kernel read
// waits for a full reconcile or a repair step).
func (s *soak) check(what string, res Result) {
	s.t.Helper()
	for _, oe := range res.ObjectErrors {
		s.objectErrors[oe.Reason]++
	}
	if res.Full && s.eng.status.other[ObjKernelRead] == nil {
		s.drifted = false // the engine read the whole kernel
		clear(s.unknown)
	}
	s.expectBelief(what)
	s.expectStats(what)
	failed := 0
	for _, n := range s.eng.FailedObjects() {
		failed += n
	}
	if pending := s.eng.Statuses() - failed; pending > 0 && res.RetryAfter == 0 {
		s.t.Fatalf("iteration %d, %s: %d objects pending and no retry scheduled", s.iterations, what, pending)
	}
	if what != "sync" {
		return
	}
	now := s.clock.Now()
	overdue := func(o Object, st *Status) {
		if !st.Failed && !now.Before(st.RetryAt) {
			s.t.Fatalf("iteration %d: %s is pending since %v, due at %v, and the sync at %v did not retry it (%v)",
				s.iterations, o, st.Since, st.RetryAt, now, st.Err)
		}
	}
	for _, m := range s.eng.status.vs {
		for o, st := range m {
			overdue(o, st)
		}
	}
	for a, st := range s.eng.status.addrs {
		overdue(Object{Kind: ObjAddress, Addr: a}, st)
	}
}

// snapshot returns the current objects.
func (s *soak) snapshot() *source {
	return &source{svcs: maps.Clone(s.src.svcs), slices: maps.Clone(s.src.slices), raw: maps.Clone(s.src.raw)}
}

// restore puts the objects of a snapshot and the node's first addresses
// back, and hands every slot to the engine.
func (s *soak) restore(snap *source) {
	if len(s.node.IPs) != 1 {
		s.nodeChange()
	}
	for i := range soakSlots {
		name := soakName(i)
		if svc := snap.svcs[name]; svc != nil {
			s.src.put(svc, snap.raw[name]...)
		} else {
			s.src.remove(name)
		}
		s.pending[name] = true
	}
	s.check("sync", s.eng.Sync(s.ctx, s.take()))
}

// heapAlloc returns the bytes of live heap objects after a collection.
func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// want returns what proxier.Build makes of the current objects.
func (s *soak) want() *model.State {
	var svcs []*v1.Service
	var sls []*discovery.EndpointSlice
	for _, name := range s.src.ServiceNames() {
		svcs = append(svcs, s.src.svcs[name])
		sls = append(sls, s.src.raw[name]...)
	}
	st, _ := proxier.Build(svcs, sls, s.node, proxier.Config{})
	return st
}
