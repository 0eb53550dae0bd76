package daemon

import (
	"context"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// The cheap checks run every --ipvs-sync-period (kube-proxy's period, 30 s
// by default), between the full read-backs of the paced repair (every
// RepairPeriod). Each costs a few system calls whatever the number of
// services:
//
//   - netfilter: one NFT_MSG_GETGEN request; a read-back of our program
//     off the sync goroutine only when someone committed an nftables
//     transaction since the last clean one (reconcile.Engine.CheckNetfilter).
//     Drift it finds is repaired by a sync requested at once.
//   - IPVS: one virtual server's real servers, picked at random, are dumped
//     and compared with what we applied (reconcile.Engine.CheckIPVS); a
//     difference, as a table flushed by someone else shows everywhere,
//     requests a full reconcile at once instead of waiting for the repair.
//     A kernel that still differs at the following checks (another program
//     rewriting IPVS) gets its next full reconciles further and further
//     apart, up to the repair period (fullBackoff), not one per check.
//   - objects whose transient retries ran out are tried once more, without
//     reading the kernel (reconcile.Engine.RetryExhausted).
//   - sysctls: the few the data plane needs are read and set back when
//     changed (ensureSysctls); the state gauges are refreshed.
//
// The drain poll (every --drain-poll-interval, in the sync goroutine) asks
// for them with a sync of kind runner.Check, which runs them after applying
// pending changes: like kube-proxy's periodic sync, it keeps the last-sync
// timestamp and the health check current while nothing changes. It is
// periodic work for the runner's MinInterval, like a repair step: a change
// right after it is applied at once. (As an incremental sync it made the
// next change wait up to --ipvs-min-sync-period: the 400-600 ms outliers of
// the 10k and 30k benches of 2026-12-07.)

// pollChecks is called by the drain poll: it asks for a sync that runs the
// checks when they are due, and collects a finished netfilter read-back
// meanwhile.
func (d *daemon) pollChecks(ctx context.Context) {
	if d.clock.Now().Sub(d.checked) >= d.cfg.SyncPeriod {
		d.runner.TriggerCheck()
		return
	}
	if d.engine.CheckingNetfilter() && d.engine.CheckNetfilter(ctx) {
		d.runner.Trigger()
	}
}

// runChecks runs the checks in a sync of kind runner.Check; writes and
// failures go to res.
func (d *daemon) runChecks(ctx context.Context, res *reconcile.Result) {
	d.checked = d.clock.Now()
	if d.engine.CheckNetfilter(ctx) {
		d.runner.Trigger()
	}
	if d.ipvsRepairs.drifted(d.engine.CheckIPVS(ctx), d.checked) && !d.engine.RepairNow() {
		d.runner.TriggerFull()
	}
	r := d.engine.RetryExhausted(ctx)
	res.Writes += r.Writes
	res.Failures += r.Failures
	res.ObjectErrors = append(res.ObjectErrors, r.ObjectErrors...)
	d.refreshKernelState(ctx)
}

// refreshKernelState sets back drifted sysctls and refreshes the state
// gauges: after every check and every sync that reconciled everything.
func (d *daemon) refreshKernelState(ctx context.Context) {
	d.ensureSysctls(ctx)
	d.metrics.State(d.engine.Stats())
}

// fullBackoff spaces the full reconciles the IPVS check asks for while the
// kernel keeps differing from what was applied after each of them: each
// waits twice as long as the one before, from one check period up to the
// repair period, so that a kernel someone else keeps rewriting cannot hold
// the sync goroutine with back-to-back Fulls (at 10,000 services under
// TCG one takes 30 s, three minutes after a flush). A check that finds no
// difference starts over.
type fullBackoff struct {
	// first and max bound the delay between Fulls (the check and repair
	// periods); delay is the current one, 0 when the last check agreed.
	first, max, delay time.Duration
	// next is when the next Full may run.
	next time.Time
}

// drifted records the result of an IPVS check at now and reports whether
// to run a full reconcile.
func (b *fullBackoff) drifted(drift bool, now time.Time) bool {
	switch {
	case !drift:
		b.delay = 0
		return false
	case now.Before(b.next):
		return false
	case b.delay == 0:
		b.delay = b.first
	default:
		b.delay = min(2*b.delay, max(b.max, b.first))
	}
	b.next = now.Add(b.delay)
	return true
}
