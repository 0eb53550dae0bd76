package reconcile

import "time"

// Metrics receives what the engine does, for the daemon's Prometheus
// metrics. Implementations must be cheap: they are called on the hot path.
type Metrics interface {
	// KernelError counts one failed kernel operation by kind.
	KernelError(op string)
	// DrainStarted counts a real server put to weight 0 to drain.
	DrainStarted()
	// DrainFinished counts a drain that ended, or a deletion that skipped
	// the drain, by reason.
	DrainFinished(reason string)
	// ConntrackCleared records one clearing of stale conntrack entries of
	// an IP family ("IPv4", "IPv6"): how long it took and how many it
	// deleted.
	ConntrackCleared(family string, d time.Duration, deleted int)
}

// NopMetrics discards everything.
type NopMetrics struct{}

func (NopMetrics) KernelError(string)   {}
func (NopMetrics) DrainStarted()        {}
func (NopMetrics) DrainFinished(string) {}

func (NopMetrics) ConntrackCleared(string, time.Duration, int) {}
