package reconcile

import (
	"slices"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// DrainReason says why a drain ended (the label of the drains-finished
// metric).
type DrainReason string

// Reasons a real server stops being kept at weight 0.
const (
	// DrainIdle: its active and inactive connections reached zero.
	DrainIdle DrainReason = "connections-zero"
	// DrainTimeout: --drain-timeout passed with connections left; deleting
	// it makes expire_nodest_conn reset them instead of blackholing them.
	DrainTimeout DrainReason = "timeout"
	// DrainGone: the endpoint left its slice after terminating (the pod is
	// gone), or the real server vanished from the kernel.
	DrainGone DrainReason = "endpoint-gone"
	// DrainUDP: UDP real servers are deleted at once, never drained.
	DrainUDP DrainReason = "udp"
	// DrainRevived: the endpoint became ready again; it returns to weight 1.
	DrainRevived DrainReason = "revived"
	// DrainServiceGone: the whole virtual server was deleted.
	DrainServiceGone DrainReason = "service-gone"
)

// drain is a real server the engine keeps at weight 0 although its endpoint
// is no longer wanted: it was removed or turned not-ready without
// terminating (a crash, a node failure, a failed readiness probe), so
// nothing else bounds how long its connections may hang.
type drain struct {
	since time.Time
}

// drains tracks the draining real servers per virtual server.
type drains map[model.VSKey]map[model.RSKey]drain

func (d drains) add(k model.VSKey, rs model.RSKey, now time.Time) {
	m := d[k]
	if m == nil {
		m = map[model.RSKey]drain{}
		d[k] = m
	}
	if _, ok := m[rs]; !ok {
		m[rs] = drain{since: now}
	}
}

func (d drains) remove(k model.VSKey, rs model.RSKey) bool {
	m := d[k]
	if _, ok := m[rs]; !ok {
		return false
	}
	delete(m, rs)
	if len(m) == 0 {
		delete(d, k)
	}
	return true
}

func (d drains) has(k model.VSKey, rs model.RSKey) bool {
	_, ok := d[k][rs]
	return ok
}

// count returns how many real servers are draining.
func (d drains) count() int {
	n := 0
	for _, m := range d {
		n += len(m)
	}
	return n
}

// effective returns the virtual server as it must be programmed: the
// desired one, plus its draining real servers at weight 0. It returns nil
// when the virtual server is not desired.
func effective(want *model.Service, draining map[model.RSKey]drain) *model.Service {
	if want == nil || len(draining) == 0 {
		return want
	}
	out := &model.Service{VirtualServer: want.VirtualServer, Reals: slices.Clone(want.Reals)}
	for rs := range draining {
		if _, ok := want.Real(rs); !ok {
			out.Reals = append(out.Reals, model.RealServer{RSKey: rs, Weight: 0})
		}
	}
	out.SortReals()
	return out
}

// decideRemovals applies the drain policy to one virtual server before its
// operations are computed. For each real server the kernel has but the
// desired state lacks:
//   - UDP: deleted at once (no drain; its conntrack entries are flushed);
//   - at weight 0 and not draining: its endpoint was terminating and has now
//     left its slice, so the pod is gone: deleted at once, and with
//     expire_nodest_conn=1 its clients get a reset instead of a blackhole;
//     after a restart (adopting) such a real server drains instead, since
//     its history is unknown;
//   - at a non-zero weight: its endpoint vanished or turned not-ready without
//     terminating: it drains (weight 0) until its connections reach zero or
//     the drain timeout passes.
//
// A draining real server that is desired again stops draining. It returns
// the real servers deleted at once, for conntrack cleanup and metrics.
func (e *Engine) decideRemovals(k model.VSKey, want, have *model.Service, adopting bool) (gone []model.RSKey) {
	if want == nil {
		if d := e.drains[k]; len(d) > 0 {
			for rs := range d {
				e.finishDrain(k, rs, DrainServiceGone)
			}
		}
		return nil
	}
	for rs := range e.drains[k] {
		if _, ok := want.Real(rs); ok {
			e.finishDrain(k, rs, DrainRevived)
		}
	}
	if have == nil {
		return nil
	}
	for _, r := range have.Reals {
		if _, ok := want.Real(r.RSKey); ok || e.drains.has(k, r.RSKey) {
			continue
		}
		switch {
		case k.Proto == model.UDP:
			e.metrics.DrainFinished(string(DrainUDP))
			gone = append(gone, r.RSKey)
		case r.Weight == 0 && !adopting || e.cfg.NoNotReadyDrain:
			e.metrics.DrainFinished(string(DrainGone))
			gone = append(gone, r.RSKey)
		default:
			e.drains.add(k, r.RSKey, e.clock.Now())
			e.metrics.DrainStarted()
		}
	}
	return gone
}

func (e *Engine) finishDrain(k model.VSKey, rs model.RSKey, why DrainReason) {
	if e.drains.remove(k, rs) {
		e.metrics.DrainFinished(string(why))
	}
}
