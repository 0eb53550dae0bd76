package daemon

import (
	"context"
	"slices"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// nodeRetry is how soon a sync is retried while the node is unknown.
const nodeRetry = 5 * time.Second

// sync is the runner's SyncFunc: it takes the pending changes and hands them
// to the engine, incrementally or as a full reconcile, then reports to
// metrics, health and events.
func (d *daemon) sync(ctx context.Context, full bool) time.Duration {
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
		full, rebuildAll = true, true
	}
	if full && !rebuildAll && d.nodePortIPsChanged(ctx) {
		if err := d.refreshNode(ctx); err == nil {
			rebuildAll = true
		}
	}
	start := d.clock.Now()
	var res reconcile.Result
	if full {
		res = d.engine.Full(ctx, ch.Services, rebuildAll)
		d.ensureSysctls(ctx)
		d.metrics.State(d.engine.Stats())
	} else {
		res = d.engine.Sync(ctx, ch.Services)
	}
	now := d.clock.Now()
	healthy := res.Failures == 0 && d.engine.Healthy()
	d.metrics.SyncDone(full, now.Sub(start), res.Writes, !healthy, now)
	d.metrics.Pending(d.tracker.Pending())
	if healthy {
		for _, name := range ch.Services {
			d.metrics.Programmed(now, ch.TriggerTimes[name])
		}
		d.health.updated()
	}
	if hc, changed := d.engine.HealthChecks(); changed {
		d.health.syncServices(ctx, hc)
	}
	d.events.report(ctx, res.Problems)
	logger.V(2).Info("Synced", "full", full, "services", len(ch.Services), "writes", res.Writes,
		"failures", res.Failures, "duration", now.Sub(start), "draining", d.engine.Draining())
	return res.RetryAfter
}

// poll is the runner's drain poll.
func (d *daemon) poll(ctx context.Context) {
	if !d.nodeOK {
		return
	}
	if res := d.engine.PollDrains(ctx); res.Writes > 0 {
		klog.FromContext(ctx).V(2).Info("Ended drains", "writes", res.Writes, "failures", res.Failures,
			"draining", d.engine.Draining())
	}
}

// nodePortIPsChanged re-reads the node's interface addresses (on full
// reconciles): an address added to or removed from an interface changes the
// node-port virtual servers without any API event.
func (d *daemon) nodePortIPsChanged(ctx context.Context) bool {
	ips, err := d.deps.Adapters.Addresses.NodeAddresses(d.cfg.NodePortAddresses)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Could not list node addresses", "err", err)
		return false
	}
	return !slices.Equal(nonNil(ips), d.node.NodePortIPs)
}
