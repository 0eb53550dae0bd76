package runner

import "time"

// schedule is the loop's state: what is due and when. Only the Run
// goroutine touches it.
//
// MinInterval is kept per class: between syncs that apply changes
// (incremental and full ones; see changeRate) and between periodic syncs
// (steps of the paced repair, checks), not across the two, so that
// periodic work never makes an endpoint change wait for MinInterval.
type schedule struct {
	// due, dueFull, dueRepair and dueCheck: a sync (full, periodic
	// repair, check) is due and has not run yet.
	due, dueFull, dueRepair, dueCheck bool
	// changes bounds the syncs that apply changes (changeRate); lastStep
	// is when the last periodic one (repair step, check) returned, zero
	// before the first.
	changes  changeRate
	lastStep time.Time
	// nextRepair is when the periodic full sync (or the next step of the
	// paced repair) is due; zero before the first sync (which is full).
	nextRepair time.Time
	// retryAt is when a failed sync is retried; zero when nothing failed.
	retryAt time.Time
	// nextPoll is when Poll is due.
	nextPoll time.Time
	// paced: periodic syncs are repair steps (Config.RepairSteps).
	paced bool
	// catchup: the repair's steps run back to back, without MinInterval
	// between them (Config.Catchup).
	catchup bool
}

// stepGap is the least time between periodic syncs: MinInterval, or none
// while catching up.
func (s *schedule) stepGap(minInterval time.Duration) time.Duration {
	if s.catchup {
		return 0
	}
	return minInterval
}

// expire turns timers that have passed into due syncs.
func (s *schedule) expire(now time.Time) {
	if !s.nextRepair.IsZero() && !now.Before(s.nextRepair) {
		s.dueRepair = true
	}
	if !s.retryAt.IsZero() && !now.Before(s.retryAt) {
		s.due = true
	}
}

// after is the first instant MinInterval allows after last (zero: now).
func after(last time.Time, minInterval time.Duration) time.Time {
	if last.IsZero() {
		return time.Time{}
	}
	return last.Add(minInterval)
}

// changeRate bounds the syncs that apply changes: up to changeBurst may
// run back to back, and over time one starts per MinInterval. So a change
// that arrives on its own is applied at once, as kube-proxy's IPVS mode
// applies it with its default --ipvs-min-sync-period of 0, while a stream
// of changes (a rolling update of a large service) is held to one sync
// per MinInterval, so that it is applied in batches instead of one sync
// per event. kube-proxy's IPVS and iptables modes ran their syncs under
// the same bound (a token bucket, burst 2) until their runner was
// rewritten to wait MinInterval after every sync; with that rule, at
// 100,000 services in the test VM, 22 of 200 changes written 1-2 s apart
// waited for the rest of the second after the previous one's sync
// (docs/performance.md). It is the generic cell rate algorithm: tat is
// when the bucket will be full again (each sync, counted at its end, adds
// one MinInterval); a sync may start once tat is at most changeBurst-1
// intervals ahead.
type changeRate struct{ tat time.Time }

// changeBurst is how many syncs that apply changes may run back to back.
const changeBurst = 2

// gate is the first instant a sync that applies changes may start (zero:
// now).
func (c *changeRate) gate(minInterval time.Duration) time.Time {
	if c.tat.IsZero() {
		return time.Time{}
	}
	return c.tat.Add(-(changeBurst - 1) * minInterval)
}

// ran records a sync that applied changes and returned at end.
func (c *changeRate) ran(end time.Time, minInterval time.Duration) {
	c.tat = laterOf(c.tat, end).Add(minInterval)
}

// changeDue reports whether a sync that applies changes is due: asked for,
// or the periodic full one when the repair is not paced.
func (s *schedule) changeDue() bool { return s.due || s.dueFull || s.dueRepair && !s.paced }

// next returns the kind of sync to run at now, if one is due and its
// class's MinInterval has passed: a full one first, then an incremental
// one, then a repair step, then a check.
func (s *schedule) next(now time.Time, minInterval time.Duration) (Kind, bool) {
	if s.changeDue() && !now.Before(s.changes.gate(minInterval)) {
		if s.dueFull || s.dueRepair && !s.paced {
			return Full, true
		}
		return Incremental, true
	}
	if now.Before(after(s.lastStep, s.stepGap(minInterval))) {
		return Incremental, false
	}
	switch {
	case s.paced && s.dueRepair:
		return Repair, true
	case s.dueCheck:
		return Check, true
	}
	return Incremental, false
}

// synced records a sync of that kind that returned at end; the next
// periodic one is due repairInterval after the end of a Full, or after the
// time a Repair step was due. Every sync covers the pending changes.
func (s *schedule) synced(end time.Time, kind Kind, retry, repairInterval, minInterval time.Duration) {
	s.due = false
	if kind == Full || kind == Incremental {
		s.changes.ran(end, minInterval)
	}
	switch kind {
	case Full:
		s.dueFull, s.dueRepair = false, false
		s.nextRepair = end.Add(repairInterval)
	case Repair:
		// Steps keep their own rhythm: one delayed by MinInterval does not
		// push back the ones after it, so a cycle still takes about
		// FullInterval. One that fell a whole interval behind restarts the
		// rhythm.
		s.dueRepair = false
		s.nextRepair = laterOf(s.nextRepair.Add(repairInterval), end)
		s.lastStep = end
	case Check:
		s.dueCheck = false
		s.lastStep = end
	}
	s.retryAt = time.Time{}
	if retry > 0 {
		s.retryAt = end.Add(retry)
	}
}

// nextWake returns when the loop has something to do, assuming nothing is
// ready at now (so the result is after now).
func (s *schedule) nextWake(cfg Config, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	changeGate := s.changes.gate(cfg.MinInterval)
	if s.changeDue() {
		consider(changeGate)
	} else if !s.retryAt.IsZero() {
		consider(laterOf(s.retryAt, changeGate))
	}
	stepGate := after(s.lastStep, s.stepGap(cfg.MinInterval))
	if !s.nextRepair.IsZero() {
		gate := changeGate
		if s.paced {
			gate = stepGate
		}
		consider(laterOf(s.nextRepair, gate))
	}
	if s.dueCheck {
		consider(stepGate)
	}
	if cfg.Poll != nil {
		consider(s.nextPoll)
	}
	switch {
	case next.IsZero():
		// Unreachable after the first sync, which sets nextRepair; wake
		// up in a while rather than block forever.
		next = now.Add(cfg.FullInterval)
	case !next.After(now):
		// Defensive: never spin on a time that has passed.
		next = now.Add(cfg.MinInterval)
	}
	return next
}

// minTime returns the earlier of a and b, a zero time counting as never.
func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
