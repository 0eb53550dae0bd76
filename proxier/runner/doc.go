// Package runner decides when the reconcile engine syncs; the engine
// decides how.
//
// Data flows one way:
//
//	informers ─► tracker (coalesces, notify) ─► Runner.Trigger ─┐
//	periodic checks (caller's period) ──► Runner.TriggerCheck ─┤
//	periodic full reconcile (FullInterval) ────────────────────┤
//	retry after a partly failed sync (retryAfter) ────────────┤─► one goroutine:
//	drain polling (PollInterval) ──────────────────────────────┘    sync(ctx, kind) or Poll(ctx)
//
// Everything runs in the goroutine that called Run, so the sync function
// and the poll hook never touch the kernel concurrently. Triggers are
// coalesced: any number of them while a sync runs or while MinInterval
// holds the next one back give one sync. The rules:
//
//   - The first sync after Run is full (restart adoption lists the kernel).
//   - MinInterval bounds the syncs that apply changes (incremental and
//     full ones) like a token bucket: two may run back to back, and over
//     time one starts per MinInterval. A change that comes on its own is
//     applied at once; a stream of changes is applied in batches, one
//     sync per MinInterval. kube-proxy's IPVS and iptables modes ran under
//     the same bound (burst 2) until 1.32; its runner now waits
//     MinInterval after every sync (see changeRate for why we do not).
//     Periodic syncs (the steps of a paced repair, TriggerCheck's checks)
//     are counted apart, MinInterval from the end of one to the start of
//     the next, so that periodic work never makes an endpoint change wait.
//   - TriggerCheck asks for a sync of kind Check: the pending changes plus
//     the caller's periodic checks.
//   - A full sync runs FullInterval after the end of the previous full one,
//     or sooner on TriggerFull. A full sync also covers pending triggers.
//   - With Config.RepairSteps set, the periodic full sync is paced: it
//     becomes RepairSteps() syncs of kind Repair, one every
//     FullInterval/RepairSteps(), so that at 10,000+ services no single
//     sync reads the whole kernel while changes wait. The first sync and
//     TriggerFull stay one Full. While Config.Catchup reports true (the
//     first cycle after a restart verifies an assumed adoption; a check
//     found IPVS drifted), the steps run back to back, CatchupInterval
//     apart, without MinInterval between them; changes still go first.
//   - When sync returns retryAfter > 0 (some kernel calls failed and the
//     engine requeued their services), sync runs again retryAfter later
//     (but not before MinInterval), trigger or not. The engine owns the
//     backoff: it chooses retryAfter.
//   - Poll runs every PollInterval, between syncs; it is not limited by
//     MinInterval.
//
// Nothing runs before Config.Ready (the daemon passes tracker.Synced)
// first reports true: a sync on partial data would delete live virtual
// servers. The tracker notifies when the last initial list is in, so the
// first, full, sync starts at once.
//
// The model is kube-proxy's pkg/proxy/runner BoundedFrequencyRunner, with
// full/incremental syncs, an engine-chosen retry delay and a poll hook
// added.
package runner
