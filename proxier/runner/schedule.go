package runner

import "time"

// schedule is the loop's state: what is due and when. Only the Run
// goroutine touches it.
type schedule struct {
	// due and dueFull: a sync (full) has been asked for and not run yet.
	due, dueFull bool
	// lastEnd is when the last sync returned; zero before the first.
	lastEnd time.Time
	// nextFull is when the periodic full sync is due; zero before the first
	// sync (which is full anyway).
	nextFull time.Time
	// retryAt is when a failed sync is retried; zero when nothing failed.
	retryAt time.Time
	// nextPoll is when Poll is due.
	nextPoll time.Time
}

// expire turns timers that have passed into due syncs.
func (s *schedule) expire(now time.Time) {
	if !s.nextFull.IsZero() && !now.Before(s.nextFull) {
		s.due, s.dueFull = true, true
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
	return (s.due || s.dueFull) && !now.Before(s.earliest(minInterval))
}

// synced records a sync that returned at end.
func (s *schedule) synced(end time.Time, full bool, retry, fullInterval time.Duration) {
	s.due, s.dueFull = false, false
	s.lastEnd = end
	if full {
		s.nextFull = end.Add(fullInterval)
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
	if s.due || s.dueFull {
		consider(s.earliest(cfg.MinInterval))
	} else {
		consider(s.nextFull)
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
