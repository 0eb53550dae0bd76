package runner

import "time"

// schedule is the loop's state: what is due and when. Only the Run
// goroutine touches it.
type schedule struct {
	// due, dueFull and dueRepair: a sync (full, periodic repair) is due
	// and has not run yet.
	due, dueFull, dueRepair bool
	// lastEnd is when the last sync returned; zero before the first.
	lastEnd time.Time
	// nextRepair is when the periodic full sync (or the next step of the
	// paced repair) is due; zero before the first sync (which is full).
	nextRepair time.Time
	// retryAt is when a failed sync is retried; zero when nothing failed.
	retryAt time.Time
	// nextPoll is when Poll is due.
	nextPoll time.Time
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

// earliest is the first instant MinInterval allows a sync at.
func (s *schedule) earliest(minInterval time.Duration) time.Time {
	if s.lastEnd.IsZero() {
		return time.Time{}
	}
	return s.lastEnd.Add(minInterval)
}

// syncReady reports whether a sync is due and MinInterval has passed.
func (s *schedule) syncReady(now time.Time, minInterval time.Duration) bool {
	return s.pending() && !now.Before(s.earliest(minInterval))
}

// pending reports whether any sync is due.
func (s *schedule) pending() bool { return s.due || s.dueFull || s.dueRepair }

// kind is what the next sync does: a requested full one first, then a
// periodic repair (full when there is no paced repair), else incremental.
func (s *schedule) kind(paced bool) Kind {
	switch {
	case s.dueFull, s.dueRepair && !paced:
		return Full
	case s.dueRepair:
		return Repair
	}
	return Incremental
}

// synced records a sync of that kind that returned at end; the next
// periodic one is due repairInterval after the end of a Full, or after the
// time a Repair step was due. Every sync covers the pending changes.
func (s *schedule) synced(end time.Time, kind Kind, retry, repairInterval time.Duration) {
	s.due = false
	switch kind {
	case Full:
		s.dueFull, s.dueRepair = false, false
		s.nextRepair = end.Add(repairInterval)
	case Repair:
		// Steps keep their own rhythm: one delayed by MinInterval after an
		// incremental sync does not push back the ones after it, so a
		// cycle still takes about FullInterval while changes flow. One
		// that fell a whole interval behind restarts the rhythm.
		s.dueRepair = false
		s.nextRepair = laterOf(s.nextRepair.Add(repairInterval), end)
	}
	s.lastEnd = end
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
	if s.pending() {
		consider(s.earliest(cfg.MinInterval))
	} else {
		consider(s.nextRepair)
		consider(s.retryAt)
		if !next.IsZero() {
			next = laterOf(next, s.earliest(cfg.MinInterval))
		}
	}
	if cfg.Poll != nil {
		consider(s.nextPoll)
	}
	if next.IsZero() {
		// Unreachable after the first (full) sync, which sets nextFull;
		// wake up in a while rather than block forever.
		next = now.Add(cfg.FullInterval)
	}
	return next
}

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
