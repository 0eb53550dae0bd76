package reconcile

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// A restart's adoption at scale. The first Full adopts the kernel without
// flushing it; below one repair chunk of virtual servers it reads
// everything first (observe). Above, reading every real server before the
// first sync is what made a restart slow: at 100,000 services the kernel
// needs 2-3 minutes in the test VM to list 1,000,000 real servers (its
// service table is a fixed 256-bucket hash, docs/performance.md), after
// the informers' 100 s, so the proxy stayed unready for 4 minutes while
// the kernel it had left kept serving.
//
// So when our netfilter program records the virtual servers a previous
// run created (Owner), the first Full assumes that each recorded one that
// is still desired holds what is desired now, lists only the addresses,
// verifies the netfilter program, writes what the record lacks (services
// created while we were down) and returns. The first repair cycle then
// verifies the assumption: it is an adopting cycle, run back to back
// instead of paced (Adopting; the runner's Config.Catchup), which lists
// every virtual server and reads every real server off the sync goroutine
// like any cycle, and repairs what differs with the adoption's drain
// policy (a weight-0 real server that is no longer desired drains, as in
// an adopting Full). Until it has read a virtual server, that virtual
// server is treated like one that drifted since the last read: changes to
// it are written against the assumed state, and the writes are idempotent
// (apply.go) where the kernel differs; one written while the cycle read
// it is read again at once (a chunk step would leave it to the next
// cycle). The record stays in force for the ownership rule until the
// cycle ends.

// assumable reports whether the first Full may assume the recorded
// virtual servers instead of reading them: there is a record, and more
// virtual servers than one repair chunk (below, reading is cheap).
func (e *Engine) assumable() bool {
	return !e.recorded.empty() && len(e.desired.VirtualServers()) > e.repairChunk()
}

// assumeKernel is the first Full when assumable: see above.
// start is when the Full began, took how long its parts took (logged);
// snap is the netfilter program read back for the record.
func (e *Engine) assumeKernel(ctx context.Context, res *Result, start time.Time, took firstTimes, snap model.NetfilterSnapshot) {
	logger := klog.FromContext(ctx)
	bound, err := e.listAddresses()
	if err != nil {
		e.kernelReadFailed(logger, err, res)
		return
	}
	e.status.done(Object{Kind: ObjKernelRead})
	st := model.NewState()
	st.Addresses, st.Netfilter = bound, e.applied.Netfilter
	e.resetApplied(st)
	e.assumed = make(map[model.VSKey]struct{}, len(e.desired.VirtualServers()))
	nodeIPs := e.nodePortIPs()
	var missing []model.VSKey
	for k, want := range e.desired.VirtualServers() {
		if !e.recorded.has(k, nodeIPs) {
			missing = append(missing, k)
			continue
		}
		e.applied.Services[k] = want
		e.shared[k] = struct{}{}
		e.appliedReals += len(want.Reals)
		e.assumed[k] = struct{}{}
	}
	checkStart := e.clock.Now()
	e.checkNetfilter(logger, snap)
	checked := e.clock.Since(checkStart)
	e.started = true
	steps := e.stepsFor(len(e.desired.VirtualServers()), e.desired.AddressCount())
	e.cycle = &repairCycle{steps: steps, start: e.clock.Now(), adopting: true, addressed: true}
	e.repairKeys(ctx, uniqueKeys(missing), nil, true, res)
	e.execute(ctx, e.repairAddressOps(bound), nil, res)
	logger.Info("Adopted the existing kernel state", "virtualServers", len(e.applied.Services),
		"addresses", len(bound), "writes", res.Writes, "assumed", len(e.applied.Services)-len(missing),
		"verifying", "the first repair cycle, unpaced", "duration", e.clock.Since(start), "rebuild", took.rebuild,
		"netfilterRead", took.netfilterRead, "netfilterCheck", checked)
}

// firstTimes are how long parts of the first Full took, for its log.
type firstTimes struct{ rebuild, netfilterRead time.Duration }

// adopting reports whether the kernel has not been read whole since the
// start: before the first Full, and after an assumed adoption until its
// cycle (or a Full) has read everything.
func (e *Engine) adopting() bool { return !e.started || e.recorded != nil }

// rereadAssumed reads, whole and on the sync goroutine, what is still
// assumed once an adopting cycle's chunk steps are done: virtual servers
// added while it ran, whose read failed, or that are strays of ours it
// could not read. Their existence is not known from the listing, so a
// chunk read (which cannot tell a missing virtual server from an empty
// one) will not do. It takes the assumed set once and reads up to a chunk
// of it per step; it reports whether it has more to read.
func (e *Engine) rereadAssumed(ctx context.Context, res *Result) bool {
	c := e.cycle
	if !c.adopting {
		return false
	}
	if c.rereads == nil {
		c.rereads = slices.SortedFunc(maps.Keys(e.assumed), compareKeys)
		if c.rereads == nil {
			c.rereads = []model.VSKey{}
		}
	}
	n := min(e.repairChunk(), len(c.rereads))
	var ops []model.Op
	var gone []goneReal
	for _, k := range c.rereads[:n] {
		if _, still := e.assumed[k]; still {
			ops, gone = e.readExact(ctx, ops, gone, k, res)
		}
	}
	c.rereads = c.rereads[n:]
	e.execute(ctx, ops, gone, res)
	return len(c.rereads) > 0
}

// unconfirm marks what we believe of a virtual server as unconfirmed until
// read, while adopting: one whose read failed (even a stray we know
// nothing of), or one we added, which may have existed unknown to us (ours
// but not yet listed, or made just before a crash, before its record) with
// real servers we did not write.
func (e *Engine) unconfirm(k model.VSKey) {
	if e.started && e.adopting() && e.assumed != nil {
		e.assumed[k] = struct{}{}
	}
}

// unknownWhileAdopting reports whether a virtual server of ours, listed by
// an adopting cycle, is one we know nothing of yet (a stray the adoption
// did not read): its listing raced with our writes, so it is read whole.
func (e *Engine) unknownWhileAdopting(k model.VSKey) bool {
	return e.adopting() && e.applied.Services[k] == nil
}

// readExact reads one virtual server whole on the sync goroutine (whether
// it exists, its settings and its real servers), records it as applied and
// appends what repairs it: for an assumed one whose listing or chunk read
// raced with our writes. A failed read leaves it assumed.
func (e *Engine) readExact(ctx context.Context, ops []model.Op, gone []goneReal, k model.VSKey, res *Result) ([]model.Op, []goneReal) {
	have, err := e.cfg.IPVS.GetService(k)
	if err != nil {
		e.readFailed(ctx, k, err, res)
		return ops, gone
	}
	e.setApplied(k, have)
	return e.repairKey(ops, gone, k, have, e.adopting(), true)
}

// Adopting reports whether the repair cycle in progress verifies a
// restart's assumed adoption: the runner then runs its steps back to back.
func (e *Engine) Adopting() bool { return e.cycle != nil && e.cycle.adopting }

// adopted ends an adopting cycle: the kernel has been read whole, so the
// record of a previous run no longer decides ownership. A virtual server
// whose read failed stays assumed; like any failed read, the next cycle
// reads it.
func (e *Engine) adopted(ctx context.Context, c *repairCycle) {
	klog.FromContext(ctx).Info("Verified the adopted kernel state", "virtualServers", len(e.applied.Services),
		"duration", e.clock.Since(c.start), "writes", c.writes, "unread", len(e.assumed), "draining", e.drains.count())
	e.recorded = nil
	if len(e.assumed) == 0 {
		e.assumed = nil // the map still holds the buckets of 100,000 keys
	}
}

// record is what our netfilter program recorded of the virtual servers a
// previous run created (model.ServedPorts).
type record struct {
	ports     map[model.VSKey]bool
	nodePorts map[model.NodePort]bool // Local unset
}

// has reports whether the record holds k: its port, or its node port on
// one of the node-port addresses.
func (r *record) has(k model.VSKey, nodeIPs []netip.Addr) bool {
	if r == nil {
		return false
	}
	return r.ports[k] || r.nodePorts[model.NodePort{Proto: k.Proto, Port: k.Port}] && slices.Contains(nodeIPs, k.Addr)
}

func (r *record) empty() bool { return r == nil || len(r.ports)+len(r.nodePorts) == 0 }

// readRecord reads the record our netfilter program holds from snap, read
// back with error err. Unreadable, it is empty: virtual servers on host
// addresses then count as foreign, the safe side, and the first Full reads
// the kernel whole.
func (e *Engine) readRecord(logger klog.Logger, snap model.NetfilterSnapshot, err error) *record {
	var rec model.ServedPorts
	if err != nil {
		logger.Error(err, "Failed to read the service ports recorded in the netfilter program; virtual servers on host addresses count as foreign")
	} else {
		rec = snap.Record()
	}
	r := &record{ports: make(map[model.VSKey]bool, len(rec.Ports)), nodePorts: make(map[model.NodePort]bool, len(rec.NodePorts))}
	for _, k := range rec.Ports {
		r.ports[k] = true
	}
	for _, np := range rec.NodePorts {
		r.nodePorts[np] = true
	}
	return r
}
