package runner

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Defaults for zero Config fields: kube-proxy's --ipvs-min-sync-period and
// --ipvs-sync-period defaults, and our --drain-poll-interval.
const (
	DefaultMinInterval  = time.Second
	DefaultFullInterval = 30 * time.Second
	DefaultPollInterval = 2 * time.Second
	// CatchupInterval is the time between repair steps while
	// Config.Catchup reports true: a step whose kernel read runs off the
	// sync goroutine returns at once until the read is done, so this is
	// how often it is looked at.
	CatchupInterval = 50 * time.Millisecond
)

// Config configures a Runner. Zero durations take the defaults above; a
// FullInterval shorter than MinInterval is raised to MinInterval.
type Config struct {
	// MinInterval (--ipvs-min-sync-period) bounds how often syncs run:
	// those that apply changes two back to back, then one per MinInterval
	// (see changeRate); periodic ones MinInterval from the end of one to
	// the start of the next.
	MinInterval time.Duration
	// FullInterval is the time between full reconciles (--ipvs-sync-period).
	FullInterval time.Duration
	// PollInterval is the time between calls of Poll (--drain-poll-interval).
	PollInterval time.Duration
	// Poll, when set, is called every PollInterval in the sync goroutine
	// (the engine polls draining real servers' connection counts).
	Poll func(ctx context.Context)
	// Ready, when set, gates everything: until it first returns true no
	// sync or poll runs, and the first sync after it does is the full one.
	// It is checked on every Trigger and every MinInterval; once true it is
	// not asked again. The daemon passes tracker.Synced, so a Run started
	// before the informers have listed everything cannot sync partial data.
	Ready func() bool
	// RepairSteps, when set, paces the periodic full sync: it is done as
	// RepairSteps() syncs of kind Repair spread evenly over FullInterval
	// (asked again after each), so no single sync does all the periodic
	// work. Unset, the periodic sync is one of kind Full.
	RepairSteps func() int
	// Catchup, when set with RepairSteps, is asked after each sync: while
	// it reports true, the repair's steps run back to back, CatchupInterval
	// apart and regardless of MinInterval (a restart's adoption verified
	// by the first repair cycle, or drift a check found:
	// reconcile.Engine.CatchingUp). A cycle that a sync other than a step
	// started has its first step CatchupInterval later. Changes keep
	// going first.
	Catchup func() bool
	// Clock defaults to the real clock; tests pass a fake one.
	Clock clock.WithTicker
}

// Kind is what one sync must do. Every kind also applies the pending
// changes.
type Kind int

const (
	// Incremental applies the pending changes.
	Incremental Kind = iota
	// Full reconciles everything at once: the first sync, TriggerFull, and
	// the periodic one when Config.RepairSteps is unset.
	Full
	// Repair is one step of the paced periodic repair (Config.RepairSteps).
	Repair
	// Check applies the pending changes and runs the caller's periodic
	// checks (TriggerCheck).
	Check
)

func (k Kind) String() string {
	switch k {
	case Full:
		return "full"
	case Repair:
		return "repair"
	case Check:
		return "check"
	}
	return "incremental"
}

// SyncFunc brings the kernel to the desired state as kind says. It returns
// how long to wait before trying again when some of its work failed, or 0
// when all succeeded.
type SyncFunc func(ctx context.Context, kind Kind) (retryAfter time.Duration)

// Runner calls a SyncFunc when needed; see the package doc for the rules.
type Runner struct {
	cfg  Config
	sync SyncFunc

	mu sync.Mutex
	// trigger, triggerFull and triggerCheck are requests not yet seen by
	// the loop; wake holds a token exactly when one of them is set (all
	// change under mu), so the loop never wakes for a request it already
	// took.
	trigger, triggerFull, triggerCheck bool
	wake                               chan struct{}
	// blocked is true while the loop waits; tests use it to know the loop
	// has handled everything they did.
	blocked bool
}

// New returns a Runner that calls sync; start it with Run.
func New(cfg Config, sync SyncFunc) *Runner {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.FullInterval <= 0 {
		cfg.FullInterval = DefaultFullInterval
	}
	cfg.FullInterval = max(cfg.FullInterval, cfg.MinInterval)
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Runner{cfg: cfg, sync: sync, wake: make(chan struct{}, 1)}
}

// Trigger asks for an incremental sync as soon as MinInterval allows. It
// never blocks; requests coalesce until the loop takes them.
func (r *Runner) Trigger() { r.request(Incremental) }

// TriggerFull asks for a full sync as soon as MinInterval allows. It never
// blocks.
func (r *Runner) TriggerFull() { r.request(Full) }

// TriggerCheck asks for a sync of kind Check: periodic work that is not a
// change, so it counts with the repair steps for MinInterval and never
// makes a change wait (the daemon's cheap checks every --ipvs-sync-period
// did: a change within MinInterval after one waited up to a second). It
// never blocks.
func (r *Runner) TriggerCheck() { r.request(Check) }

func (r *Runner) request(kind Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case Full:
		r.trigger, r.triggerFull = true, true
	case Check:
		r.triggerCheck = true
	default:
		r.trigger = true
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run calls sync and Poll as the package doc describes until ctx is done.
// It returns after the sync or poll in progress, if any, has returned.
func (r *Runner) Run(ctx context.Context) {
	defer klog.FromContext(ctx).V(2).Info("Stopped sync runner")
	clk := r.cfg.Clock
	if !r.waitReady(ctx) {
		return
	}
	s := schedule{dueFull: true, nextPoll: clk.Now().Add(r.cfg.PollInterval), paced: r.cfg.RepairSteps != nil}
	for ctx.Err() == nil {
		r.takeRequests(&s)
		now := clk.Now()
		s.expire(now)
		kind, ready := s.next(now, r.cfg.MinInterval)
		switch {
		case ready:
			r.runSync(ctx, &s, kind)
		case r.cfg.Poll != nil && !now.Before(s.nextPoll):
			r.cfg.Poll(ctx)
			s.nextPoll = clk.Now().Add(r.cfg.PollInterval)
		default:
			r.wait(ctx, s.nextWake(r.cfg, now))
		}
	}
}

// waitReady returns when Config.Ready reports true (true) or ctx is done
// (false). Requests made meanwhile are dropped: the first sync is full.
func (r *Runner) waitReady(ctx context.Context) bool {
	if r.cfg.Ready == nil {
		return true
	}
	logger := klog.FromContext(ctx)
	for ctx.Err() == nil {
		r.takeRequests(&schedule{})
		if r.cfg.Ready() {
			return true
		}
		logger.V(4).Info("Deferred the first sync until the initial lists are loaded")
		r.wait(ctx, r.cfg.Clock.Now().Add(r.cfg.MinInterval))
	}
	return false
}

// takeRequests moves pending Trigger/TriggerFull requests into s.
func (r *Runner) takeRequests(s *schedule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.due = s.due || r.trigger
	s.dueFull = s.dueFull || r.triggerFull
	s.dueCheck = s.dueCheck || r.triggerCheck
	r.trigger, r.triggerFull, r.triggerCheck = false, false, false
	select {
	case <-r.wake:
	default:
	}
}

// runSync calls sync and records when the next ones are due.
func (r *Runner) runSync(ctx context.Context, s *schedule, kind Kind) {
	retry := r.sync(ctx, kind)
	end := r.cfg.Clock.Now()
	was := s.catchup
	s.catchup = r.cfg.RepairSteps != nil && r.cfg.Catchup != nil && r.cfg.Catchup()
	s.synced(end, kind, retry, r.repairInterval(s.catchup), r.cfg.MinInterval)
	if s.catchup && !was {
		// A sync other than a step started a cycle to run back to back
		// (a check that found drift): its first step is due now.
		s.nextRepair = minTime(s.nextRepair, end.Add(CatchupInterval))
	}
	if retry > 0 {
		klog.FromContext(ctx).V(4).Info("Scheduled sync retry", "retryAfter", retry, "kind", kind.String())
	}
}

// repairInterval is the time from one periodic sync (or repair step) to
// the next: FullInterval, divided among the steps of a paced repair, or
// CatchupInterval while catching up (Config.Catchup).
func (r *Runner) repairInterval(catchup bool) time.Duration {
	switch {
	case r.cfg.RepairSteps == nil:
		return r.cfg.FullInterval
	case catchup:
		return CatchupInterval
	}
	return r.cfg.FullInterval / time.Duration(max(1, r.cfg.RepairSteps()))
}

// wait blocks until deadline, a request or ctx is done. It does not block
// when a request arrived since takeRequests.
func (r *Runner) wait(ctx context.Context, deadline time.Time) {
	r.mu.Lock()
	if r.trigger || r.triggerCheck {
		r.mu.Unlock()
		return
	}
	timer := r.cfg.Clock.NewTimer(deadline.Sub(r.cfg.Clock.Now()))
	r.blocked = true
	r.mu.Unlock()

	select {
	case <-ctx.Done():
	case <-r.wake:
	case <-timer.C():
	}
	timer.Stop()
	r.mu.Lock()
	r.blocked = false
	r.mu.Unlock()
}
