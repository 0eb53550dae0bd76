package runner

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const ms = time.Millisecond

// cfg is a Config with short, distinct intervals.
var cfg = Config{MinInterval: time.Second, FullInterval: 30 * time.Second, PollInterval: 2 * time.Second}

func expectSyncs(t *testing.T, h *harness, want ...call) {
	t.Helper()
	if diff := cmp.Diff(want, h.takeSyncs()); diff != "" {
		t.Errorf("syncs mismatch (-want +got):\n%s", diff)
	}
}

func TestFirstSyncIsFull(t *testing.T) {
	h := start(t, cfg, false)
	expectSyncs(t, h, call{0, true})
	// Nothing asked: nothing runs before the periodic full.
	h.stepTo(29*time.Second, time.Second)
	expectSyncs(t, h)
}

// TestCoalescing: triggers that arrive while a sync runs, or while the
// next one waits for the minimum interval, give one sync. (Ten triggers
// made back to back while the loop is idle may give one or two: the
// first may start a sync before the others land, and the second of a
// burst runs at once.)
func TestCoalescing(t *testing.T) {
	h := start(t, cfg, false)
	h.takeSyncs()
	h.step(5 * time.Second)
	h.trigger(1)
	h.trigger(1)
	expectSyncs(t, h, call{5 * time.Second, false}, call{5 * time.Second, false})

	// Ten triggers while the next sync waits for the minimum interval.
	h.trigger(10)
	expectSyncs(t, h)
	h.step(time.Second)
	expectSyncs(t, h, call{6 * time.Second, false})

	// Ten triggers during a sync give one more sync: at once, the second
	// of a burst.
	h.mu.Lock()
	h.during = func() {
		for range 10 {
			h.r.Trigger()
		}
	}
	h.mu.Unlock()
	h.step(4 * time.Second)
	h.trigger(1)
	expectSyncs(t, h, call{10 * time.Second, false}, call{10 * time.Second, false})
	h.step(5 * time.Second)
	expectSyncs(t, h)
}

// TestChangeSyncRate: syncs that apply changes run two back to back, then
// one per MinInterval; a change that comes on its own, even a second
// after the previous one, runs at once.
func TestChangeSyncRate(t *testing.T) {
	h := start(t, cfg, false)
	h.takeSyncs()

	// Right after the first sync: the second of a burst runs at once.
	h.trigger(1)
	expectSyncs(t, h, call{0, false})
	// A third waits until MinInterval after the first.
	h.step(500 * ms)
	h.trigger(3)
	h.step(499 * ms)
	expectSyncs(t, h)
	h.step(1 * ms)
	expectSyncs(t, h, call{time.Second, false})

	// A stream, one trigger every 100ms: one sync per MinInterval.
	for range 30 {
		h.step(100 * ms)
		h.trigger(1)
	}
	h.stepTo(5*time.Second, 100*ms) // the last trigger, at 4s
	expectSyncs(t, h, call{2 * time.Second, false}, call{3 * time.Second, false}, call{4 * time.Second, false},
		call{5 * time.Second, false})

	// Then changes on their own, 1-1.5s apart: each runs at once.
	for _, gap := range []time.Duration{1500 * ms, 1500 * ms, time.Second, time.Second} {
		h.step(gap)
		h.trigger(1)
	}
	expectSyncs(t, h, call{6500 * ms, false}, call{8 * time.Second, false}, call{9 * time.Second, false},
		call{10 * time.Second, false})
}

// TestChangeSyncRateCountsFromSyncEnd shows a slow sync is accounted at its
// end, not its start: after a 3s sync, one more may follow at once, and
// the one after that waits MinInterval.
func TestChangeSyncRateCountsFromSyncEnd(t *testing.T) {
	h := start(t, cfg, false)
	h.takeSyncs()
	h.step(5 * time.Second)
	h.mu.Lock()
	h.during = func() { h.clk.Step(3 * time.Second) } // the sync takes 3s
	h.mu.Unlock()
	h.trigger(1)
	expectSyncs(t, h, call{5 * time.Second, false})
	h.trigger(1) // at 8s, when the slow sync ended
	expectSyncs(t, h, call{8 * time.Second, false})
	h.trigger(1)
	h.step(999 * ms)
	expectSyncs(t, h)
	h.step(1 * ms)
	expectSyncs(t, h, call{9 * time.Second, false})
}

func TestPeriodicFull(t *testing.T) {
	h := start(t, cfg, false)
	h.takeSyncs()

	// Incremental syncs do not move the periodic full one.
	h.step(10 * time.Second)
	h.trigger(1)
	h.stepTo(30*time.Second-ms, time.Second)
	expectSyncs(t, h, call{10 * time.Second, false})
	h.step(ms)
	expectSyncs(t, h, call{30 * time.Second, true})

	// A pending trigger is folded into the full sync: the third of three
	// at 59s waits for MinInterval, and the full sync is due then.
	h.step(29 * time.Second)
	h.trigger(1)
	h.trigger(1)
	expectSyncs(t, h, call{59 * time.Second, false}, call{59 * time.Second, false})
	h.trigger(1)
	h.step(time.Second)
	expectSyncs(t, h, call{60 * time.Second, true})

	// TriggerFull restarts the period.
	h.step(10 * time.Second)
	h.r.TriggerFull()
	h.settle()
	expectSyncs(t, h, call{70 * time.Second, true})
	h.stepTo(100*time.Second-ms, time.Second)
	expectSyncs(t, h)
	h.step(ms)
	expectSyncs(t, h, call{100 * time.Second, true})
}

// TestPacedRepair: with RepairSteps, the periodic work is done as that many
// Repair syncs spread over FullInterval, the step count is asked again after
// each, and TriggerFull still runs a whole Full at once.
func TestPacedRepair(t *testing.T) {
	steps := 5
	c := cfg
	c.RepairSteps = func() int { return steps }
	h := start(t, c, false)
	expectSyncs(t, h, call{0, true})
	h.stepTo(30*time.Second, time.Second)
	expectSyncs(t, h, call{6 * time.Second, false}, call{12 * time.Second, false}, call{18 * time.Second, false},
		call{24 * time.Second, false}, call{30 * time.Second, false})
	h.mu.Lock()
	kinds := h.kinds
	h.mu.Unlock()
	if want := []Kind{Full, Repair, Repair, Repair, Repair, Repair}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	// The engine's cycle grew to 10 steps: the spacing follows from the
	// next step on (the one at 36s was scheduled at 30s).
	steps = 10
	h.stepTo(39*time.Second, time.Second)
	expectSyncs(t, h, call{36 * time.Second, false}, call{39 * time.Second, false})
	// A full sync is in the class of syncs that apply changes: the step
	// that just ran at 39s does not hold it back, and it restarts the
	// rhythm (steps every 3s from its end).
	h.r.TriggerFull()
	h.settle()
	expectSyncs(t, h, call{39 * time.Second, true})

	// MinInterval separates syncs that apply changes, and repair steps, but
	// not one class from the other: a change right after a step (or a step
	// right after a change) does not wait.
	h.stepTo(43*time.Second, 500*ms)
	h.step(200 * ms)
	h.trigger(1)
	h.stepTo(44*time.Second, 200*ms)
	h.trigger(1) // the second change of a burst: runs at once
	h.stepTo(48*time.Second, 200*ms)
	expectSyncs(t, h, call{42 * time.Second, false}, call{43200 * ms, false},
		call{44 * time.Second, false}, call{45 * time.Second, false}, call{48 * time.Second, false})
	h.mu.Lock()
	kinds = h.kinds[len(h.kinds)-5:]
	h.mu.Unlock()
	if want := []Kind{Repair, Incremental, Incremental, Repair, Repair}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

// TestPacedRepairStepsKeepMinInterval: steps due faster than MinInterval
// (a cycle of many steps) are spaced by MinInterval, and a step late by a
// whole interval restarts the rhythm instead of bursting.
func TestPacedRepairStepsKeepMinInterval(t *testing.T) {
	c := cfg
	c.RepairSteps = func() int { return 60 } // one every 500ms
	h := start(t, c, false)
	h.takeSyncs()
	h.stepTo(3500*ms, 100*ms)
	expectSyncs(t, h, call{500 * ms, false}, call{1500 * ms, false}, call{2500 * ms, false}, call{3500 * ms, false})
}

// TestCatchupRunsStepsBackToBack: while Catchup reports true (a restart's
// adoption verified by the first repair cycle), repair steps follow each
// other CatchupInterval apart, not FullInterval/RepairSteps and not
// MinInterval. Once it reports false the steps are paced again.
func TestCatchupRunsStepsBackToBack(t *testing.T) {
	var catchup atomic.Bool
	catchup.Store(true)
	c := cfg
	c.RepairSteps = func() int { return 10 } // paced: one every 3s
	c.Catchup = catchup.Load
	h := start(t, c, false)
	expectSyncs(t, h, call{0, true})
	h.stepTo(200*ms, 10*ms)
	expectSyncs(t, h, call{50 * ms, false}, call{100 * ms, false}, call{150 * ms, false}, call{200 * ms, false})
	h.trigger(1) // a change runs at once, between two steps
	expectSyncs(t, h, call{200 * ms, false})
	h.stepTo(1100*ms, 10*ms)
	got := h.takeSyncs()
	for i, c := range got {
		if want := 250*ms + time.Duration(i)*50*ms; c.At != want {
			t.Errorf("sync %d at %v, want %v", i, c.At, want)
		}
	}
	if len(got) != 18 {
		t.Errorf("%d syncs from 250ms to 1.1s, want 18", len(got))
	}
	catchup.Store(false)
	h.stepTo(7200*ms, 50*ms)
	expectSyncs(t, h, call{1150 * ms, false}, call{4150 * ms, false}, call{7150 * ms, false})
}

func TestRetryAfter(t *testing.T) {
	h := start(t, cfg, false)
	h.takeSyncs()

	h.step(10 * time.Second)
	h.mu.Lock()
	h.retries = []time.Duration{5 * time.Second, 200 * ms, 200 * ms, 0}
	h.mu.Unlock()
	h.trigger(1)
	expectSyncs(t, h, call{10 * time.Second, false})

	// Retried after 5s without a trigger.
	h.step(5*time.Second - ms)
	expectSyncs(t, h)
	h.step(ms)
	expectSyncs(t, h, call{15 * time.Second, false})

	// A retry shorter than MinInterval runs when due as the second of a
	// burst; the one after it waits for MinInterval.
	h.step(200 * ms)
	expectSyncs(t, h, call{15200 * ms, false})
	h.step(200 * ms)
	expectSyncs(t, h)
	h.step(600 * ms)
	expectSyncs(t, h, call{16 * time.Second, false})

	// The sync succeeded: no more retries.
	h.stepTo(29*time.Second, time.Second)
	expectSyncs(t, h)
}

// TestRetryAfterFullSync shows a failed full sync is retried incrementally
// (the engine requeued what failed) and does not delay the next full one.
func TestRetryAfterFullSync(t *testing.T) {
	h := start(t, cfg, false)
	h.mu.Lock()
	h.retries = []time.Duration{3 * time.Second}
	h.mu.Unlock()
	h.stepTo(30*time.Second, time.Second)
	expectSyncs(t, h, call{0, true}, call{30 * time.Second, true})
	h.step(3 * time.Second)
	expectSyncs(t, h, call{33 * time.Second, false})
	h.stepTo(60*time.Second, time.Second)
	expectSyncs(t, h, call{60 * time.Second, true})
}

func TestPollCadence(t *testing.T) {
	h := start(t, cfg, true)
	h.stepTo(10*time.Second, 500*ms)
	want := []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second, 10 * time.Second}
	if diff := cmp.Diff(want, h.takePolls()); diff != "" {
		t.Errorf("polls mismatch (-want +got):\n%s", diff)
	}
	// Syncs do not shift the poll cadence, nor are they delayed by it.
	h.step(time.Second)
	h.trigger(1)
	h.stepTo(14*time.Second, 500*ms)
	expectSyncs(t, h, call{0, true}, call{11 * time.Second, false})
	want = []time.Duration{12 * time.Second, 14 * time.Second}
	if diff := cmp.Diff(want, h.takePolls()); diff != "" {
		t.Errorf("polls mismatch (-want +got):\n%s", diff)
	}
	// A poll overdue because the clock jumped runs once, then keeps the
	// cadence from there.
	h.step(7 * time.Second)
	h.step(2 * time.Second)
	want = []time.Duration{21 * time.Second, 23 * time.Second}
	if diff := cmp.Diff(want, h.takePolls()); diff != "" {
		t.Errorf("polls after a jump mismatch (-want +got):\n%s", diff)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlap {
		t.Error("poll ran during a sync")
	}
}

func TestNoPollWithoutHook(t *testing.T) {
	h := start(t, cfg, false)
	h.stepTo(10*time.Second, 500*ms)
	if got := h.takePolls(); len(got) != 0 {
		t.Errorf("polls without a Poll hook: %v", got)
	}
}

func TestCancelStops(t *testing.T) {
	h := start(t, cfg, true)
	h.stop()
	// Nothing runs after Run returned, whatever happens.
	h.takeSyncs()
	h.takePolls()
	h.r.Trigger()
	h.clk.Step(time.Minute)
	if s, p := h.takeSyncs(), h.takePolls(); len(s)+len(p) != 0 {
		t.Errorf("after cancel: syncs %v, polls %v", s, p)
	}
}

func TestReadyGatesEverything(t *testing.T) {
	var ready atomic.Bool
	c := cfg
	c.Ready = ready.Load
	h := start(t, c, true)
	h.trigger(3)
	h.r.TriggerFull()
	h.settle()
	h.stepTo(5*time.Second, 500*ms)
	expectSyncs(t, h)
	if p := h.takePolls(); len(p) != 0 {
		t.Errorf("polls before ready: %v", p)
	}
	// The tracker's notify on the last SetSynced starts the first, full, sync.
	ready.Store(true)
	h.trigger(1)
	expectSyncs(t, h, call{5 * time.Second, true})
	h.stepTo(8*time.Second, 500*ms)
	if diff := cmp.Diff([]time.Duration{7 * time.Second}, h.takePolls()); diff != "" {
		t.Errorf("polls mismatch (-want +got):\n%s", diff)
	}
	// Without a trigger, readiness is noticed within MinInterval.
	var later atomic.Bool
	c.Ready = later.Load
	h2 := start(t, c, false)
	h2.step(3 * time.Second)
	later.Store(true)
	h2.step(time.Second)
	expectSyncs(t, h2, call{4 * time.Second, true})
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   Config
		want [3]time.Duration
	}{
		{name: "zero", in: Config{}, want: [3]time.Duration{time.Second, 30 * time.Second, 2 * time.Second}},
		{name: "negative", in: Config{MinInterval: -1, FullInterval: -1, PollInterval: -1}, want: [3]time.Duration{time.Second, 30 * time.Second, 2 * time.Second}},
		{name: "full below min is raised", in: Config{MinInterval: 10 * time.Second, FullInterval: 5 * time.Second, PollInterval: time.Second}, want: [3]time.Duration{10 * time.Second, 10 * time.Second, time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.in, nil)
			got := [3]time.Duration{r.cfg.MinInterval, r.cfg.FullInterval, r.cfg.PollInterval}
			if got != tc.want {
				t.Errorf("intervals = %v, want %v", got, tc.want)
			}
			if r.cfg.Clock == nil {
				t.Error("Clock not defaulted")
			}
		})
	}
}

// TestCheckDoesNotDelayChanges: a check (TriggerCheck) is periodic work,
// like a repair step: a change right after it runs at once instead of
// waiting MinInterval (in the 30k VM bench of 2026-12-07 a change arriving
// 0.4 s after the daemon's check sync waited 0.6 s), while checks and
// repair steps keep MinInterval between themselves.
func TestCheckDoesNotDelayChanges(t *testing.T) {
	c := cfg
	c.RepairSteps = func() int { return 3 } // steps at 10s, 20s, 30s
	h := start(t, c, false)
	h.takeSyncs()
	h.step(5 * time.Second)
	h.r.TriggerCheck()
	h.settle()
	h.step(300 * ms)
	h.trigger(1)
	// A check asked 200ms after the step at 10s waits for MinInterval
	// after it; a change in between does not.
	h.stepTo(10200*ms, 100*ms)
	h.r.TriggerCheck()
	h.settle()
	h.step(100 * ms)
	h.trigger(1)
	h.stepTo(12*time.Second, 100*ms)
	expectSyncs(t, h, call{5 * time.Second, false}, call{5300 * ms, false}, call{10 * time.Second, false},
		call{10300 * ms, false}, call{11 * time.Second, false})
	h.mu.Lock()
	kinds := h.kinds[1:]
	h.mu.Unlock()
	if want := []Kind{Check, Incremental, Repair, Incremental, Check}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

// TestCatchupStartedByACheck: a check that starts a cycle to run back to
// back (Catchup turns true after a Check sync, as RepairNow does) has its
// first step run CatchupInterval later, not at the paced step's time.
func TestCatchupStartedByACheck(t *testing.T) {
	var catchup atomic.Bool
	c := cfg
	c.RepairSteps = func() int { return 10 } // paced: one every 3s
	c.Catchup = catchup.Load
	h := start(t, c, false)
	expectSyncs(t, h, call{0, true})
	h.stepTo(time.Second, 10*ms)
	h.mu.Lock()
	h.during = func() { catchup.Store(true) }
	h.mu.Unlock()
	h.r.TriggerCheck()
	h.settle()
	h.stepTo(1200*ms, 10*ms)
	got := h.takeSyncs()
	want := []call{{time.Second, false}, {1050 * ms, false}, {1100 * ms, false}, {1150 * ms, false}, {1200 * ms, false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("syncs mismatch (-want +got):\n%s", diff)
	}
}
