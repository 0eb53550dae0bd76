package reconcile

import (
	"context"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// PollDrains reads the connection counters of the draining real servers
// (one stats dump per virtual server that has any) and deletes those whose
// connections reached zero or whose drain timeout passed. Every drain ends:
// a real server that vanished from the kernel is forgotten too.
func (e *Engine) PollDrains(ctx context.Context) Result {
	var res Result
	if len(e.drains) == 0 || !e.started {
		return res
	}
	now := e.clock.Now()
	var touched []model.VSKey
	for k, m := range e.drains {
		stats, err := e.cfg.IPVS.RealServerStats(k)
		if err != nil {
			klog.FromContext(ctx).V(2).Info("Failed to read drain counters", "virtualServer", k.String(), "err", err)
			e.metrics.KernelError("stats")
			continue
		}
		for rs, d := range m {
			st, ok := stats[rs]
			switch {
			case !ok:
				e.finishDrain(k, rs, DrainGone)
			case st.ActiveConns+st.InactiveConns == 0:
				e.finishDrain(k, rs, DrainIdle)
			case now.Sub(d.since) >= e.cfg.DrainTimeout:
				e.finishDrain(k, rs, DrainTimeout)
			default:
				continue
			}
			touched = append(touched, k)
		}
	}
	var ops []model.Op
	for _, k := range uniqueKeys(touched) {
		ops = e.planKey(ops, k, e.desired.VirtualServer(k), e.applied.Services[k], false)
	}
	e.execute(ctx, ops, nil, &res)
	return res
}
