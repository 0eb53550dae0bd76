package reconcile

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// vsCompare is the repair's virtual-server step after its listing: the
// listing compared with the desired and applied state a slice at a time,
// so that no step holds the sync goroutine for all of it (at 100,000
// virtual servers the comparison in one step took 11.6 s in the test VM).
// Two passes: the listed virtual servers in order (ours compared, foreign
// ones noted), then the desired keys, to find those the listing lacks.
//
// Changes keep being applied between the steps, and each step judges with
// the state of that moment. Only the kernel's side is old: a virtual server
// written since the listing started (touched; the sync goroutine records
// it, see touch) may differ from what was listed, so it is not compared
// but has its real servers read by a later chunk step, as a write made
// while the listing ran always had.
type vsCompare struct {
	// vss is the listing, sorted by key; vss[next:] are still to compare.
	vss  []model.VirtualServer
	next int
	// desired are the desired keys still to look for in the listing; nil
	// until the first pass has ended.
	desired []model.VSKey
	touched map[model.VSKey]bool
	// foreign are the desired virtual servers listed that belong to
	// someone else (see Owner).
	foreign map[model.VSKey]bool
}

// compareSlice is how many entries (listed virtual servers, then desired
// keys) one step of the comparison takes: twice a chunk, so that the
// comparison takes about as many steps as the chunk reads after it.
func (e *Engine) compareSlice() int { return 2 * e.repairChunk() }

// stepOps bounds the operations one comparison step writes (a step ends
// at the entry that reaches it): a table flushed by someone else makes
// every desired entry an add of a virtual server with its real servers.
// At this bound a step is about 0.1 s into a clean table.
func (e *Engine) stepOps() int { return 2 * e.repairChunk() }

// stepWriteTime bounds how long one comparison step writes. Right after a
// flush the kernel keeps the deleted destinations in its trash until a
// timer frees them, and each destination added first walks that list
// (ip_vs_add_dest, ip_vs_trash_get_dest): in the test VM about 6 ms per add
// after a flush of 100,000 (10k run T1741Z) and 90 ms after one of
// 1,000,000 (100k run T1937Z, where a step of 1,001 writes held the sync
// goroutine 93.6 s), against 0.1 ms into a clean table. A step writes in
// batches, and stops taking entries once it has written this long.
const stepWriteTime = time.Second

// firstWriteBatch is how many operations a cycle writes at once before it
// knows what a write costs.
const firstWriteBatch = 16

// writeBatch is how many operations a step sends at once: what takes half
// of stepWriteTime at the highest cost per write the cycle has measured,
// at most limit. Not the last cost: re-adding a flushed destination walks
// the trash up to where that destination lies, so the cost of one batch
// says little about the next (100k run T2053Z: batches sized on the last
// cost made steps of 37 s).
func (c *repairCycle) writeBatch(limit int) int {
	if c.maxOpCost <= 0 {
		return min(firstWriteBatch, limit)
	}
	return max(1, min(limit, int(stepWriteTime/2/c.maxOpCost)))
}

// executeTimed executes ops and keeps the highest cost per operation for
// the cycle's next batches.
func (e *Engine) executeTimed(ctx context.Context, ops []model.Op, gone []goneReal, res *Result) {
	start := e.clock.Now()
	e.execute(ctx, ops, gone, res)
	if len(ops) > 0 {
		e.cycle.maxOpCost = max(e.cycle.maxOpCost, e.clock.Since(start)/time.Duration(len(ops)))
	}
}

// compareStep compares the next slice and, after the last, hands the
// virtual servers whose real servers are to be read to the chunk steps.
func (e *Engine) compareStep(ctx context.Context, res *Result) {
	c, v := e.cycle, e.cycle.compare
	budget := e.compareSlice()
	ours := e.ownership(e.applied.Addresses)
	var ops []model.Op
	var gone []goneReal
	for ; budget > 0 && v.next < len(v.vss) && len(ops) < e.stepOps(); budget-- {
		kv := v.vss[v.next]
		v.next++
		owned, desired := ours(kv.VSKey)
		if v.touched[kv.VSKey] {
			if owned && e.unknownWhileAdopting(kv.VSKey) {
				ops, gone = e.readExact(ctx, ops, gone, kv.VSKey, res) // see adopt.go
			}
			continue // the second pass hands it to a chunk step if desired
		}
		switch {
		case owned:
			ops, gone = e.compareListed(ctx, ops, gone, kv, res)
		case desired:
			v.foreign[kv.VSKey] = true
		}
	}
	if v.next == len(v.vss) && v.desired == nil {
		v.desired = slices.AppendSeq(make([]model.VSKey, 0, len(e.desired.VirtualServers())), maps.Keys(e.desired.VirtualServers()))
	}
	start, written := e.clock.Now(), 0
	for ; budget > 0 && len(v.desired) > 0 && written+len(ops) < e.stepOps(); budget-- {
		k := v.desired[0]
		v.desired = v.desired[1:]
		ops, gone = e.compareDesired(ctx, ops, gone, k, res)
		if len(ops) < c.writeBatch(e.stepOps()) {
			continue
		}
		e.executeTimed(ctx, ops, gone, res)
		written += len(ops)
		ops, gone = nil, nil
		if e.clock.Since(start) >= stepWriteTime {
			break
		}
	}
	e.executeTimed(ctx, ops, gone, res)
	if v.desired == nil || len(v.desired) > 0 {
		return
	}
	for k := range v.touched {
		delete(v.foreign, k)
	}
	e.markForeign(v.foreign, res)
	c.listed, c.compare = true, nil
}

// compareListed compares one listed virtual server of ours.
func (e *Engine) compareListed(ctx context.Context, ops []model.Op, gone []goneReal, kv model.VirtualServer, res *Result) ([]model.Op, []goneReal) {
	k := kv.VSKey
	applied, want := e.applied.Services[k], e.desired.VirtualServer(k)
	if applied == nil || want == nil {
		// Unknown to us, or to be deleted: read its real servers now.
		return e.repairRead(ctx, ops, gone, k, kv, res)
	}
	// Its real servers are read by a later step; check its settings.
	// (Owning an applied service shared with the desired state copies it:
	// only when the kernel's settings differ.)
	if applied.VirtualServer != kv {
		e.ownApplied(k).VirtualServer = kv
	}
	if want.VirtualServer != kv {
		if op := (model.Op{Kind: model.OpUpdateVirtualServer, VS: want.VirtualServer}); !e.status.skip(op, true) {
			ops = append(ops, op)
		}
	}
	e.cycle.keys = append(e.cycle.keys, k)
	return ops, gone
}

// compareDesired looks for one desired key in the listing: missing from
// the kernel (or never added), it is added whole.
func (e *Engine) compareDesired(ctx context.Context, ops []model.Op, gone []goneReal, k model.VSKey, res *Result) ([]model.Op, []goneReal) {
	v := e.cycle.compare
	switch _, assumed := e.assumed[k]; {
	case e.desired.VirtualServer(k) == nil:
		return ops, gone // deleted since the first pass
	case v.touched[k] && assumed:
		// Whether it exists is known from neither the listing nor our
		// writes since (adopt.go): read it whole.
		return e.readExact(ctx, ops, gone, k, res)
	case v.touched[k]:
		if e.applied.Services[k] != nil {
			e.cycle.keys = append(e.cycle.keys, k)
		}
		return ops, gone
	}
	if _, listed := slices.BinarySearchFunc(v.vss, k, func(vs model.VirtualServer, k model.VSKey) int { return compareKeys(vs.VSKey, k) }); listed {
		return ops, gone // compared, or foreign, in the first pass
	}
	e.setApplied(k, nil)
	return e.repairKey(ops, gone, k, nil, false, true)
}
