package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Owner holds the configuration that decides which kernel objects belong
// to this proxy. A virtual server is ours when
//
//   - its address is bound on the dummy interface (ours or kube-proxy's:
//     both use kube-ipvs0, which is how kube-proxy's state is adopted), or
//     a Service makes us bind it there (kube-proxy binds it too), or
//   - it is on a node-port address with a port in the node-port range, or
//   - we created it in this process (it is in the applied state).
//
// Nothing inside ExcludeCIDRs (--ipvs-exclude-cidrs) is ours unless a
// Service wants it, and even then it is never deleted. Any other virtual
// server (keepalived, a hand-made ipvsadm entry, a local load balancer) is
// foreign: never changed or deleted; a Service claiming it fails that
// virtual server with ReasonForeign instead of taking it over. Addresses on
// the dummy interface that are also configured on another interface belong
// to the host and are never unbound.
//
// After a restart, "we created it" is read from the netfilter program we
// left: its service-ports sets list every cluster, external and
// load-balancer port we served, host ports included (a virtual server on a
// host address, an externalIP that is a node address, is served but never
// bound, so nothing else records it). A virtual server created just before
// a crash that cut the sync short, before its netfilter update, is not
// recorded and counts as foreign; docs/safety.md says how to recover.
type Owner struct {
	ExcludeCIDRs []netip.Prefix
	// NodePortMin and NodePortMax bound the node-port range (default
	// 30000-32767, the API server's default --service-node-port-range).
	NodePortMin, NodePortMax uint16
}

func (o *Owner) excluded(a netip.Addr) bool {
	for _, p := range o.ExcludeCIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// nodePort reports whether k is a node port on one of nodeIPs.
func (o *Owner) nodePort(k model.VSKey, nodeIPs []netip.Addr) bool {
	lo, hi := o.NodePortMin, o.NodePortMax
	if lo == 0 && hi == 0 {
		lo, hi = 30000, 32767
	}
	return k.Port >= lo && k.Port <= hi && slices.Contains(nodeIPs, k.Addr)
}

// Owns reports whether a virtual server found in the kernel is ours, given
// the addresses bound on our dummy interface and the node's addresses
// (what --cleanup removes): outside the exclude CIDRs, on a bound address
// or a node port.
func (o *Owner) Owns(k model.VSKey, bound map[netip.Addr]struct{}, nodeIPs []netip.Addr) bool {
	if o.excluded(k.Addr) {
		return false
	}
	_, ok := bound[k.Addr]
	return ok || o.nodePort(k, nodeIPs)
}

// observe reads the kernel: one dump of virtual servers with their real
// servers and one listing of the dummy interface's addresses, filtered to
// what we own. foreign are the desired virtual servers that exist in the
// kernel and belong to someone else.
func (e *Engine) observe() (st *model.State, foreign map[model.VSKey]bool, err error) {
	bound, err := e.listAddresses()
	if err != nil {
		return nil, nil, err
	}
	svcs, err := e.cfg.IPVS.ListServices()
	if err != nil {
		return nil, nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	st = model.NewState()
	st.Addresses = bound
	ours := e.ownership(bound)
	foreign = map[model.VSKey]bool{}
	for _, s := range svcs {
		switch owned, desired := ours(s.VSKey); {
		case owned:
			st.Services[s.VSKey] = s
		case desired:
			foreign[s.VSKey] = true
		}
	}
	return st, foreign, nil
}

// listAddresses lists the dummy interface's addresses, less the host's
// (isHostAddr).
func (e *Engine) listAddresses() (map[netip.Addr]struct{}, error) {
	addrs, err := e.cfg.Addresses.List()
	if err != nil {
		return nil, fmt.Errorf("listing dummy interface addresses: %w", err)
	}
	bound := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if !e.isHostAddr(a) {
			bound[a] = struct{}{}
		}
	}
	return bound, nil
}

// isHostAddr reports whether an address listed on the dummy interface is
// also configured on another interface: it belongs to the host, and
// unbinding it could take the node's local route with it.
func (e *Engine) isHostAddr(a netip.Addr) bool { return slices.Contains(e.node.HostIPs, a) }

// ownership returns whether a virtual server in the kernel is ours (see
// Owner), given the addresses bound, and whether a Service wants it.
func (e *Engine) ownership(bound map[netip.Addr]struct{}) func(model.VSKey) (owned, desired bool) {
	nodeIPs := e.nodePortIPs()
	return func(k model.VSKey) (bool, bool) {
		desired := e.desired.VirtualServer(k) != nil
		if !desired && e.cfg.Owner.excluded(k.Addr) {
			return false, false
		}
		if _, created := e.applied.Services[k]; created || e.recorded.has(k, nodeIPs) {
			return true, desired
		}
		// On the dummy interface now, or in this sync (binds follow adds).
		_, onDummy := bound[k.Addr]
		onDummy = onDummy || e.desired.Bound(k.Addr)
		return onDummy || e.cfg.Owner.nodePort(k, nodeIPs), desired
	}
}

// markForeign fails the desired virtual servers that belong to someone
// else and forgets that failure for those that no longer exist; a Full or
// the repair's virtual-server step calls it with the kernel's foreign set.
func (e *Engine) markForeign(foreign map[model.VSKey]bool, res *Result) {
	for k := range e.status.vs {
		if e.isForeign(k) && !foreign[k] {
			e.status.done(Object{Kind: ObjVirtualServer, VS: k})
			e.nfStale = true // its ports are ours to serve again
		}
	}
	for k := range foreign {
		want := e.desired.VirtualServer(k)
		op := model.Op{Kind: model.OpAddVirtualServer, VS: want.VirtualServer}
		if e.status.skip(op, false) {
			continue
		}
		e.failed(klog.Background(), op, fmt.Errorf("%s: %w", k, ErrForeign), res)
	}
}

// isForeign reports whether a desired virtual server failed because another
// program owns it.
func (e *Engine) isForeign(k model.VSKey) bool {
	s := e.status.get(Object{Kind: ObjVirtualServer, VS: k})
	return s != nil && s.Reason == ReasonForeign
}

// nodePortIPs are the node addresses node-port virtual servers use.
func (e *Engine) nodePortIPs() []netip.Addr {
	if e.node.NodePortIPs != nil {
		return e.node.NodePortIPs
	}
	return e.node.IPs
}

// Full reconciles everything: it lists the kernel, diffs it against the
// whole desired state, repairs drift (someone ran ipvsadm -C, a destination
// vanished) and removes what we own but no longer want. The first call
// adopts the existing state without flushing: when the kernel already
// matches, it writes nothing. The changed services are rebuilt first;
// rebuildAll recomputes every service (after the node changed), as the first
// call always does.
func (e *Engine) Full(ctx context.Context, changed []types.NamespacedName, rebuildAll bool) Result {
	logger := klog.FromContext(ctx)
	res := Result{Full: true}
	start := e.clock.Now()
	adopting := e.adopting()
	e.cycle, e.nfCheck = nil, nil // a repair cycle in progress is superseded
	if !e.started || rebuildAll {
		e.status.resetFailed() // a new node or a restart: every object gets a new chance
		e.rebuildAll(&res)
	} else {
		names := slices.Clone(changed)
		for _, name := range changed {
			names = append(names, e.rebuild(name).Services...)
		}
		e.rebuilt(&res, names)
	}
	rebuilt := e.clock.Since(start)
	// The first Full reads the netfilter program back once, for the
	// record and the check. (Read while the informers listed, at 100,000
	// services in the 2-vCPU test VM, it took 76 s and slowed them from
	// 95 to 135 s: run T1649Z.)
	var snap model.NetfilterSnapshot
	var read time.Duration
	if !e.started && e.recorded == nil {
		var err error
		snap, err = e.cfg.Netfilter.Snapshot()
		read = e.clock.Since(start) - rebuilt
		e.recorded = e.readRecord(logger, snap, err)
	}
	if !e.started && e.assumable() {
		e.assumeKernel(ctx, &res, start, firstTimes{rebuild: rebuilt, netfilterRead: read}, snap)
		return res
	}
	observed, foreign, err := e.observe()
	if err != nil {
		e.kernelReadFailed(logger, err, &res)
		return res
	}
	e.status.done(Object{Kind: ObjKernelRead})
	e.markForeign(foreign, &res)
	observed.Netfilter = e.applied.Netfilter // netfilter is verified below, not listed
	e.resetApplied(observed)
	e.checkNetfilter(logger, snap)
	e.started, e.recorded = true, nil
	e.repairKeys(ctx, unionKeys(e.desired.VirtualServers(), observed.Services), observed.Services, adopting, &res)
	e.execute(ctx, e.repairAddressOps(observed.Addresses), nil, &res)
	e.status.forgetUnlisted(e.desired.VirtualServers(), observed.Services, e.wantedAddresses(observed.Addresses), observed.Addresses)
	if adopting {
		logger.Info("Adopted the existing kernel state", "virtualServers", len(observed.Services),
			"addresses", len(observed.Addresses), "writes", res.Writes, "draining", e.drains.count())
	}
	return res
}

// kernelReadFailed postpones a Full whose read of the kernel failed: it is
// retried with backoff.
func (e *Engine) kernelReadFailed(logger klog.Logger, err error, res *Result) {
	logger.Error(err, "Failed to read the kernel state; full reconcile postponed")
	e.metrics.KernelError("list")
	res.Failures++
	res.RetryAfter = e.status.failOther(ObjKernelRead, err, e.clock.Now())
}

// repairKeys brings the virtual servers of keys, sorted, from what the
// kernel holds (have; nil: absent) to the desired state, written fullChunk
// virtual servers at a time, so that a cold sync of 10,000 services never
// holds its 110,000 operations at once.
func (e *Engine) repairKeys(ctx context.Context, keys []model.VSKey, have map[model.VSKey]*model.Service, adopting bool, res *Result) {
	for start := 0; start < len(keys); start += fullChunk {
		chunk := keys[start:min(start+fullChunk, len(keys))]
		ops := make([]model.Op, 0, addOps(chunk, e.desired.VirtualServers(), have))
		var gone []goneReal
		for _, k := range chunk {
			ops, gone = e.repairKey(ops, gone, k, have[k], adopting, true)
		}
		e.execute(ctx, ops, gone, res)
		e.shareApplied(chunk) // those the kernel already matched, at a restart
	}
}

// fullChunk is how many virtual servers Full diffs and writes at a time.
const fullChunk = 1000

// addOps counts the operations that add the virtual servers of keys that
// are desired but not in the kernel, with their real servers: what a cold
// sync writes, so that its operations are one array per chunk instead of a
// dozen grown by appending (63 MB of garbage in the 10k cold sync's heap
// profile, 6 MB of it alive at a collection; issue 14).
func addOps(keys []model.VSKey, desired, observed map[model.VSKey]*model.Service) int {
	n := 0
	for _, k := range keys {
		if want, ok := desired[k]; ok && observed[k] == nil {
			n += 1 + len(want.Reals)
		}
	}
	return n
}

// repairKey appends what brings one virtual server from have, as read from
// the kernel, to its desired state, after applying the drain policy. A
// foreign virtual server is left alone (markForeign failed it). repairing
// retries objects whose transient retries ran out.
func (e *Engine) repairKey(ops []model.Op, gone []goneReal, k model.VSKey, have *model.Service, adopting, repairing bool) ([]model.Op, []goneReal) {
	want := e.desired.VirtualServer(k)
	gone = appendGone(gone, k, e.decideRemovals(k, want, have, adopting))
	e.forgetVanishedDrains(k, have)
	return e.planKey(ops, k, want, have, repairing), gone
}

// repairAddressOps makes the addresses bound, as listed, exact: the desired
// ones bound, ours that are no longer desired unbound.
func (e *Engine) repairAddressOps(bound map[netip.Addr]struct{}) []model.Op {
	want := e.wantedAddresses(bound)
	ops := proxier.DiffAddresses(nil, want, bound)
	if len(e.status.addrs) == 0 {
		return ops // nothing to settle (listing every address cost 100k steps)
	}
	return e.status.settleAddresses(union(want, bound), ops, true)
}

// checkNetfilter reads the netfilter program back (no writes): drift from
// what we applied makes the sync reapply it; at start, a program that
// already matches the desired intent (a restart) is adopted as applied.
func (e *Engine) checkNetfilter(logger klog.Logger, snap model.NetfilterSnapshot) {
	if snap == nil {
		var err error
		if snap, err = e.cfg.Netfilter.Snapshot(); err != nil {
			logger.Info("Failed to read the netfilter program back; reapplying", "err", err)
			e.nfApplied, e.nfStale = false, true
			return
		}
	}
	if e.nfApplied {
		if err := snap.Verify(&e.applied.Netfilter); err != nil {
			logger.Info("Netfilter program drifted; reapplying", "err", err)
			e.nfApplied = false
		}
	}
	if e.nfApplied {
		return
	}
	nf := e.netfilterIntent()
	if err := snap.Verify(&nf); err == nil {
		e.nfApplied, e.nfDrifted = true, nil
		e.applied.Netfilter = nf
		return
	}
	e.nfStale, e.nfDrifted = true, snap // repaired from what was read
}

// wantedAddresses is the desired address set, plus bound addresses inside
// the exclude CIDRs, which are never unbound.
func (e *Engine) wantedAddresses(bound map[netip.Addr]struct{}) map[netip.Addr]struct{} {
	want := e.desired.Addresses()
	for a := range bound {
		if e.wantsAddress(a, true) {
			want[a] = struct{}{}
		}
	}
	return want
}

// wantsAddress reports whether a is to be bound, given whether it is
// bound now: desired, or bound inside the exclude CIDRs, which are never
// unbound. The full repair (wantedAddresses) and the address step's
// comparison (compare_addrs.go) both decide by it.
func (e *Engine) wantsAddress(a netip.Addr, bound bool) bool {
	return e.desired.Bound(a) || bound && e.cfg.Owner.excluded(a)
}

// forgetVanishedDrains ends drains whose real server is no longer in the
// kernel (someone deleted it, or the virtual server went away).
func (e *Engine) forgetVanishedDrains(k model.VSKey, have *model.Service) {
	for rs := range e.drains[k] {
		if have == nil {
			e.finishDrain(k, rs, DrainGone)
			continue
		}
		if _, ok := have.Real(rs); !ok {
			e.finishDrain(k, rs, DrainGone)
		}
	}
}

// unionKeys returns the keys of both maps (the desired virtual servers and
// what the kernel holds), sorted.
func unionKeys[A, B any](a map[model.VSKey]A, b map[model.VSKey]B) []model.VSKey {
	keys := union(a, b)
	slices.SortFunc(keys, compareKeys)
	return keys
}

// union returns the keys of both maps, in no order.
func union[K comparable, A, B any](a map[K]A, b map[K]B) []K {
	keys := make([]K, 0, len(a)+len(b)/8)
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func uniqueKeys(keys []model.VSKey) []model.VSKey {
	slices.SortFunc(keys, compareKeys)
	return slices.Compact(keys)
}

func compareKeys(a, b model.VSKey) int { return a.Compare(b) }
