package daemon

import (
	"cmp"
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/runner"
)

// nodeRetry is how soon a sync is retried while the node is unknown.
const nodeRetry = 5 * time.Second

// sync is the runner's SyncFunc: it takes the pending changes and hands them
// to the engine, incrementally, as a full reconcile or as a step of the
// paced periodic repair (a Check sync runs the cheap checks after them),
// then reports to metrics, health and events.
func (d *daemon) sync(ctx context.Context, kind runner.Kind) time.Duration {
	logger := klog.FromContext(ctx)
	ch := d.tracker.Take()
	d.metrics.Changes(ch.ServiceUpdates, ch.EndpointUpdates)
	rebuildAll := false
	if ch.Node || !d.nodeOK {
		if err := d.refreshNode(ctx); err != nil {
			logger.Error(err, "Cannot sync without the node's addresses; waiting")
			d.tracker.Requeue(ch.Services)
			return nodeRetry
		}
		kind, rebuildAll = runner.Full, true
	}
	addrs := d.addrs.take()
	d.handleAddrChanges(ctx, &addrs)
	if d.dueAddressCheck(kind, rebuildAll) && d.nodePortIPsChanged(ctx) {
		if err := d.refreshNode(ctx); err == nil {
			kind, rebuildAll = runner.Full, true
		}
	}
	start := d.clock.Now()
	res, whole := d.apply(ctx, kind, ch.Services, rebuildAll)
	if !res.Full {
		// A Full listed the addresses already.
		d.engine.RepairAddressDrift(ctx, addrs.dummy, &res)
	}
	if whole {
		d.refreshKernelState(ctx)
	}
	if kind == runner.Check {
		d.runChecks(ctx, &res)
	}
	now := d.clock.Now()
	// Healthy as kube-proxy means it: the proxy keeps syncing. Objects that
	// wait for a retry or failed are theirs to report (metric, events), not
	// the node's.
	healthy := d.engine.Healthy()
	d.metrics.ObjectErrors(d.engine.FailedObjects())
	d.metrics.SyncDone(syncType(kind, res.Full), now.Sub(start), res.Writes, !healthy, now)
	d.metrics.Pending(d.tracker.Pending())
	d.metrics.NoLocalEndpoints(d.engine.NoLocalEndpoints())
	if healthy {
		for _, name := range ch.Services {
			d.metrics.Programmed(now, ch.TriggerTimes[name])
		}
		d.health.updated()
	}
	hc, changed := d.engine.HealthChecks()
	d.health.syncPorts(ctx, d.node.NodePortIPs, hc, changed)
	d.events.report(ctx, res, ch.Services)
	d.events.objectErrors(ctx, res.ObjectErrors)
	logger.V(2).Info("Synced", "type", syncType(kind, res.Full), "services", len(ch.Services), "writes", res.Writes,
		"failures", res.Failures, "duration", now.Sub(start), "draining", d.engine.Draining())
	return res.RetryAfter
}

// apply hands the changed services to the engine as kind says and reports
// whether everything was reconciled (a Full, or the step that completed a
// repair cycle).
func (d *daemon) apply(ctx context.Context, kind runner.Kind, changed []types.NamespacedName, rebuildAll bool) (reconcile.Result, bool) {
	switch kind {
	case runner.Full:
		return d.engine.Full(ctx, changed, rebuildAll), true
	case runner.Repair:
		return d.engine.Repair(ctx, changed)
	}
	return d.engine.Sync(ctx, changed), false
}

// syncType names a sync for metrics and logs: a repair step that was a
// whole Full (small clusters) counts as full.
func syncType(kind runner.Kind, full bool) string {
	switch {
	case full:
		return metrics.SyncFull
	case kind == runner.Repair:
		return metrics.SyncRepair
	}
	return metrics.SyncIncremental
}

// poll is the runner's drain poll; it also runs the cheap checks when due.
func (d *daemon) poll(ctx context.Context) {
	if !d.nodeOK {
		return
	}
	d.pollChecks(ctx)
	if res := d.engine.PollDrains(ctx); res.Writes > 0 {
		klog.FromContext(ctx).V(2).Info("Ended drains", "writes", res.Writes, "failures", res.Failures,
			"draining", d.engine.Draining())
	}
}

// dueAddressCheck reports whether this sync re-reads the node's interface
// addresses: on a full sync, on any sync after the kernel reported a change
// of the host's addresses (handleAddrChanges), and, in case a notification
// was missed, on a repair step once per repair period (the listing includes
// every address of the dummy interface: 10,000 at 10,000 services; once per
// 30 s it was a sixth of the idle daemon's CPU at 10k).
func (d *daemon) dueAddressCheck(kind runner.Kind, rebuildAll bool) bool {
	now := d.clock.Now()
	switch {
	case rebuildAll:
		d.hostAddrsChanged = false // the node was just read
		return false
	case d.hostAddrsChanged:
	case kind == runner.Incremental || kind == runner.Check:
		return false
	case kind == runner.Repair && now.Sub(d.addrsChecked) < cmp.Or(d.cfg.RepairPeriod, d.cfg.SyncPeriod):
		return false
	}
	d.addrsChecked, d.hostAddrsChanged = now, false
	return true
}

// nodePortIPsChanged re-reads the node's interface addresses (on full
// reconciles): an address added to or removed from an interface changes the
// node-port virtual servers, and which service addresses are the host's
// (served but not bound: proxier.Node.HostIPs), without any API event.
func (d *daemon) nodePortIPsChanged(ctx context.Context) bool {
	ips, host, err := d.hostAddresses(d.node)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Could not read the node's addresses", "err", err)
		return false
	}
	return !slices.Equal(ips, d.node.NodePortIPs) || !slices.Equal(host, d.node.HostIPs)
}
