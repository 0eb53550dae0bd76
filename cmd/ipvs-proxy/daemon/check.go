package daemon

import (
	"context"

	"k8s.io/klog/v2"
)

// check runs the cheap checks, every --ipvs-sync-period (kube-proxy's
// period, 30 s by default), between the full read-backs of the paced
// repair (every RepairPeriod): each costs a few system calls whatever the
// number of services.
//
//   - netfilter: one NFT_MSG_GETGEN request; a read-back of our program
//     only when someone committed an nftables transaction since the last
//     clean one (reconcile.Engine.CheckNetfilter). Drift found by a
//     read-back is repaired by a sync requested at once.
//   - IPVS: one virtual server's real servers, picked at random, are dumped
//     and compared with what we applied (reconcile.Engine.CheckIPVS); a
//     difference, as a table flushed by someone else shows everywhere,
//     requests a full reconcile at once instead of waiting for the repair.
//   - objects whose transient retries ran out are tried once more, without
//     reading the kernel (reconcile.Engine.RetryExhausted).
//   - sysctls: the few the data plane needs are read and set back when
//     changed (ensureSysctls).
//
// It runs in the sync goroutine, from the drain poll, which ticks every
// --drain-poll-interval.
func (d *daemon) check(ctx context.Context) {
	now := d.clock.Now()
	if now.Sub(d.checked) < d.cfg.SyncPeriod {
		if d.engine.CheckingNetfilter() && d.engine.CheckNetfilter(ctx) {
			d.runner.Trigger()
		}
		return
	}
	d.checked = now
	if d.engine.CheckNetfilter(ctx) {
		d.runner.Trigger()
	}
	if d.engine.CheckIPVS(ctx) {
		d.runner.TriggerFull()
	}
	if res := d.engine.RetryExhausted(ctx); res.Writes > 0 {
		klog.FromContext(ctx).V(2).Info("Retried objects whose retries had run out", "writes", res.Writes, "failures", res.Failures)
	}
	d.ensureSysctls(ctx)
}
