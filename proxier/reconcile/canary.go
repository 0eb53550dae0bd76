package reconcile

import (
	"context"
	"slices"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// CheckIPVS is the cheap periodic check of IPVS (the daemon calls it every
// --ipvs-sync-period, between repair cycles): it dumps the real servers of
// one virtual server we applied, picked at random, and reports drift when
// the kernel's differ from ours. IPVS has no notifications and reading all
// of it back is the costly part of the repair (one dump per virtual
// server), so between full read-backs this one dump is what notices the
// drift that matters most: a table flushed or rewritten by someone else
// (ipvsadm -C, kube-proxy --cleanup, another proxy), which every virtual
// server shows. Drift found is for the caller to repair (RepairNow). A
// virtual server without real servers cannot be told from a missing one
// (ipvs.Interface.ListRealServers), so one is picked among those with real
// servers; a failed dump is not drift.
func (e *Engine) CheckIPVS(ctx context.Context) (drifted bool) {
	if !e.started || e.cfg.DryRun {
		return false
	}
	tries := 0
	for k, applied := range e.applied.Services { // a random start
		if tries++; tries > 8 {
			return false
		}
		if len(applied.Reals) == 0 || e.isForeign(k) {
			continue
		}
		reals, err := e.cfg.IPVS.ListRealServers(k)
		if err != nil {
			klog.FromContext(ctx).V(2).Info("Failed to read real servers for the IPVS check", "virtualServer", k.String(), "err", err)
			return false
		}
		if slices.Equal(reals, applied.Reals) {
			return false
		}
		klog.FromContext(ctx).Info("IPVS drifted from what was applied; repairing everything",
			"virtualServer", k.String(), "realServers", len(reals), "applied", len(applied.Reals))
		return true
	}
	return false
}

// RepairNow starts a repair cycle the runner runs back to back
// (CatchingUp), superseding one in progress: a check found IPVS drifted
// from what was applied (a flushed table). A Full would re-add a flushed
// table in one sync, every change waiting behind it (100,000 services in
// the test VM: 5 min 9 s); the cycle's steps write at most stepOps
// operations each, for about stepWriteTime at most, and changes go first
// between them. It reports false when the
// repair is one Full (at most one chunk of virtual servers), which the
// caller then asks for. A cycle in progress that already runs back to
// back (adopting, or started here) is left to finish: the checks during
// it find the drift it has not reached yet, and starting over each time
// would never end at 100,000 services.
func (e *Engine) RepairNow() bool {
	steps := e.stepsFor(len(e.desired.VirtualServers()), e.desired.AddressCount())
	switch {
	case steps == 1:
		return false
	case e.CatchingUp():
		return true // it reads and repairs everything already
	}
	e.cycle = &repairCycle{steps: steps, start: e.clock.Now(), urgent: true}
	return true
}

// CatchingUp reports whether the repair cycle in progress is to run back
// to back (the runner's Config.Catchup): it verifies a restart's assumed
// adoption, or repairs drift a check found (RepairNow).
func (e *Engine) CatchingUp() bool {
	return e.cycle != nil && (e.cycle.adopting || e.cycle.urgent)
}

// RetryExhausted tries once more the objects whose transient retries ran
// out (the daemon calls it every --ipvs-sync-period, with the cheap
// checks), as a repair would, without reading the kernel: they stay failed
// and reported, but a kernel that recovered (memory freed, a module
// loaded) gets them back within a check period rather than at the next
// full read-back.
func (e *Engine) RetryExhausted(ctx context.Context) Result {
	var res Result
	keys, addrs := e.status.exhausted()
	if len(keys) == 0 && len(addrs) == 0 {
		return res
	}
	var ops []model.Op
	var gone []goneReal
	for _, k := range keys {
		want, have := e.desired.VirtualServer(k), e.applied.Services[k]
		gone = appendGone(gone, k, e.decideRemovals(k, want, have, false))
		ops = e.planKey(ops, k, want, have, true)
	}
	ops = e.addressOps(ops, addrs, true)
	e.execute(ctx, ops, gone, &res)
	return res
}
