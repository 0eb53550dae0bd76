package reconcile

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// DefaultRepairChunk is how many virtual servers' real servers one repair
// step reads (Config.RepairChunk). At or below it, a repair is one Full.
const DefaultRepairChunk = 500

// repairCycle is the progress of one periodic repair read in parts.
type repairCycle struct {
	// steps is how many steps the cycle takes, counted when it started.
	steps int
	// addressed: the address step ran; listed: the virtual-server step
	// ran. addrs is the address step in progress (compare_addrs.go).
	addressed, listed bool
	addrs             *addrStep
	addrListFailures  int
	// keys are the virtual servers whose real servers are still to be
	// read, in order.
	keys []model.VSKey
	// listing and chunk are the virtual-server step's listing and the
	// chunk read in progress while they run off the sync goroutine
	// (vslist.go); compare is the comparison of the listing in progress
	// (compare.go).
	listing *backgroundRead[vsListed]
	chunk   *backgroundRead[chunkRead]
	compare *vsCompare
	start   time.Time
	writes  int
	// adopting: the first cycle after a restart's assumed adoption
	// (adopt.go); rereads are what its last steps read again.
	adopting bool
	rereads  []model.VSKey
	// urgent: a check found IPVS drifted (RepairNow).
	urgent bool
	// maxOpCost is the highest cost per write of the cycle's batches
	// (compare.go: writeBatch).
	maxOpCost time.Duration
}

func (e *Engine) repairChunk() int {
	if e.cfg.RepairChunk > 0 {
		return e.cfg.RepairChunk
	}
	return DefaultRepairChunk
}

// stepsFor is how many steps a repair of n virtual servers and addrs
// addresses takes: one (a Full) up to one chunk of virtual servers, else
// the address step's and the virtual-server step's comparisons
// (compareSlice entries of the listing and of the desired state per step)
// and one step per chunk.
func (e *Engine) stepsFor(n, addrs int) int {
	c := e.repairChunk()
	if n <= c {
		return 1
	}
	slices := func(n int) int { return (2*n + e.compareSlice() - 1) / e.compareSlice() }
	return slices(addrs) + slices(n) + (n+c-1)/c
}

// RepairSteps returns how many calls of Repair the current (or next) repair
// cycle takes; the runner spreads them over the full sync period.
func (e *Engine) RepairSteps() int {
	if e.cycle != nil {
		return e.cycle.steps
	}
	return e.stepsFor(len(e.desired.VirtualServers()), e.desired.AddressCount())
}

// Repair does the next step of the periodic repair and reports whether it
// completed a cycle. A cycle reads and repairs everything Full does, but
// in parts, so that no step holds the sync goroutine long enough to delay
// endpoint changes noticeably at 10,000+ services:
//
//  1. address step: one listing of the dummy interface's addresses (off
//     the sync goroutine with Config.AddressLister), compared and made
//     exact in slices, a step each (compare_addrs.go).
//  2. virtual-server step: one dump of the virtual servers without their
//     real servers, compared with the desired state in slices, a step
//     each (compare.go). Desired virtual servers missing from the kernel
//     are added with their real servers, ours that are no longer desired
//     are deleted, changed scheduler settings are updated. (The two
//     listings were one step; at 30,000 services under TCG it held the
//     sync goroutine 1.4–1.9 s, and at 100,000 the comparison alone
//     11.6 s.)
//  3. one step per chunk of virtual servers (Config.RepairChunk): their real
//     servers are dumped and repaired like in Full, drain policy included.
//
// Each step first applies the named changed services like Sync. With at
// most one chunk of virtual servers, Repair is Full. A Full in the middle
// of a cycle ends it.
func (e *Engine) Repair(ctx context.Context, changed []types.NamespacedName) (Result, bool) {
	if !e.started {
		return e.Full(ctx, changed, true), true
	}
	if e.cycle == nil {
		steps := e.stepsFor(len(e.desired.VirtualServers()), e.desired.AddressCount())
		if steps == 1 {
			return e.Full(ctx, changed, false), true
		}
		e.cycle = &repairCycle{steps: steps, start: e.clock.Now()}
	}
	res := e.Sync(ctx, changed)
	c := e.cycle
	if c == nil {
		// Sync retried a failed kernel read with a Full, which ends the
		// cycle: complete if the read succeeded.
		return res, e.status.other[ObjKernelRead] == nil
	}
	var step Result
	switch {
	case !c.addressed:
		e.repairAddresses(ctx, &step)
	case !c.listed:
		e.repairObjects(ctx, &step)
	default:
		e.repairChunkStep(ctx, &step)
	}
	res.Writes += step.Writes
	res.Failures += step.Failures
	more := !c.addressed || !c.listed || len(c.keys) > 0 || c.chunk != nil || e.rereadAssumed(ctx, &res)
	res.RetryAfter = e.status.next(e.clock.Now()) // whatever failed, in Sync or in the step
	c.writes += res.Writes
	if more {
		return res, false
	}
	e.cycle = nil
	if c.adopting {
		e.adopted(ctx, c)
		return res, true
	}
	if c.urgent {
		klog.FromContext(ctx).Info("Repaired the drifted kernel state", "steps", c.steps,
			"duration", e.clock.Since(c.start), "writes", c.writes)
		return res, true
	}
	klog.FromContext(ctx).V(2).Info("Completed a repair cycle", "steps", c.steps,
		"duration", e.clock.Since(c.start), "writes", c.writes)
	return res, true
}

// listFailed reports a failed listing; the step is retried with backoff,
// like a failed Full.
func (e *Engine) listFailed(ctx context.Context, err error, res *Result) {
	klog.FromContext(ctx).Error(err, "Failed to read the kernel state; repair postponed")
	e.metrics.KernelError("list")
	res.Failures++
	res.RetryAfter = e.status.failOther(ObjKernelRead, err, e.clock.Now())
}

// repairObjects is the virtual-server step: see Repair. Its first call
// lists the virtual servers (off the sync goroutine with an IPVSLister:
// later calls wait for it); the listing is then compared a slice at a time
// (compareStep).
func (e *Engine) repairObjects(ctx context.Context, res *Result) {
	c := e.cycle
	if c.compare == nil {
		vss, touched, ready, err := e.readVirtualServers()
		if !ready {
			return // listing off the sync goroutine: a later step collects it
		}
		if err != nil {
			e.listFailed(ctx, err, res)
			return
		}
		e.status.done(Object{Kind: ObjKernelRead})
		if touched == nil {
			touched = map[model.VSKey]bool{}
		}
		byKey := func(a, b model.VirtualServer) int { return compareKeys(a.VSKey, b.VSKey) }
		if !slices.IsSortedFunc(vss, byKey) {
			slices.SortFunc(vss, byKey) // compareDesired searches it
		}
		c.compare = &vsCompare{vss: vss, touched: touched, foreign: map[model.VSKey]bool{}}
	}
	e.compareStep(ctx, res)
}

// repairChunkStep reads the real servers of the next chunk of virtual
// servers and repairs them.
func (e *Engine) repairChunkStep(ctx context.Context, res *Result) {
	if e.cfg.IPVSLister != nil {
		e.chunkStepInBackground(ctx, res)
		return
	}
	c := e.cycle
	n := min(e.repairChunk(), len(c.keys))
	chunk := c.keys[:n]
	c.keys = c.keys[n:]
	var ops []model.Op
	var gone []goneReal
	for _, k := range chunk {
		applied := e.applied.Services[k]
		if applied == nil {
			continue // deleted since the object step; nothing to read
		}
		ops, gone = e.repairRead(ctx, ops, gone, k, applied.VirtualServer, res)
	}
	e.execute(ctx, ops, gone, res)
	e.shareApplied(chunk) // the real servers read back, where they match
}

// readFailed counts a failed dump of k's real servers; k is left for the
// next cycle (while adopting, it is unconfirmed: see adopt.go).
func (e *Engine) readFailed(ctx context.Context, k model.VSKey, err error, res *Result) {
	e.unconfirm(k)
	e.metrics.KernelError("list")
	res.Failures++
	klog.FromContext(ctx).V(2).Info("Failed to read real servers; left for the next repair", "virtualServer", k.String(), "err", err)
}

// repairRead dumps the real servers of one virtual server, records them as
// applied and appends what repairs them. A failed dump is counted and the
// virtual server left for the next cycle.
func (e *Engine) repairRead(ctx context.Context, ops []model.Op, gone []goneReal, k model.VSKey, vs model.VirtualServer, res *Result) ([]model.Op, []goneReal) {
	reals, err := e.cfg.IPVS.ListRealServers(k)
	if err != nil {
		e.readFailed(ctx, k, err, res)
		return ops, gone
	}
	have := &model.Service{VirtualServer: vs, Reals: reals}
	e.setApplied(k, have)
	return e.repairKey(ops, gone, k, have, e.adopting(), true)
}
