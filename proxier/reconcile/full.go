package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Owner decides which kernel objects belong to this proxy. We own the
// virtual servers on addresses bound to our dummy interface, those on node
// addresses with a port in the node-port range, and whatever the desired
// state names; never anything inside ExcludeCIDRs (--ipvs-exclude-cidrs).
// Others' virtual servers (keepalived, a local load balancer) are never
// touched.
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

func (o *Owner) nodePortRange() (uint16, uint16) {
	if o.NodePortMin == 0 && o.NodePortMax == 0 {
		return 30000, 32767
	}
	return o.NodePortMin, o.NodePortMax
}

// Owns reports whether a virtual server found in the kernel is ours, given
// the addresses bound on our dummy interface and the node's addresses (what
// --cleanup removes).
func (o *Owner) Owns(k model.VSKey, bound map[netip.Addr]struct{}, nodeIPs []netip.Addr) bool {
	return o.owns(k, bound, nodeIPs, false)
}

// owns reports whether a virtual server is ours, given the addresses bound
// on our dummy interface and the node's node-port addresses.
func (o *Owner) owns(k model.VSKey, bound map[netip.Addr]struct{}, nodeIPs []netip.Addr, desired bool) bool {
	if o.excluded(k.Addr) {
		return false
	}
	if desired {
		return true
	}
	if _, ok := bound[k.Addr]; ok {
		return true
	}
	lo, hi := o.nodePortRange()
	return k.Port >= lo && k.Port <= hi && slices.Contains(nodeIPs, k.Addr)
}

// observe reads the kernel: one dump of virtual servers with their real
// servers and one listing of the dummy interface's addresses, filtered to
// what we own.
func (e *Engine) observe() (*model.State, error) {
	bound, err := e.listAddresses()
	if err != nil {
		return nil, err
	}
	svcs, err := e.cfg.IPVS.ListServices()
	if err != nil {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	st := model.NewState()
	st.Addresses = bound
	ours := e.ownership(bound)
	for _, s := range svcs {
		if ours(s.VSKey) {
			st.Services[s.VSKey] = s
		}
	}
	return st, nil
}

// listAddresses lists the dummy interface's addresses outside the exclude
// CIDRs: the ones we own.
func (e *Engine) listAddresses() (map[netip.Addr]struct{}, error) {
	addrs, err := e.cfg.Addresses.List()
	if err != nil {
		return nil, fmt.Errorf("listing dummy interface addresses: %w", err)
	}
	bound := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if !e.cfg.Owner.excluded(a) {
			bound[a] = struct{}{}
		}
	}
	return bound, nil
}

// ownership returns whether a virtual server in the kernel is ours, given
// the addresses bound (see Owner.owns).
func (e *Engine) ownership(bound map[netip.Addr]struct{}) func(model.VSKey) bool {
	nodeIPs := e.nodePortIPs()
	return func(k model.VSKey) bool {
		_, desired := e.desired.vs[k]
		return e.cfg.Owner.owns(k, bound, nodeIPs, desired)
	}
}

// nodePortIPs are the node addresses node-port virtual servers use.
func (e *Engine) nodePortIPs() []netip.Addr {
	if e.node.NodePortIPs != nil {
		return e.node.NodePortIPs
	}
	return e.node.IPs
}

// rebuildAll recomputes every service's fragment: at start and after the
// node changed. Fragments of services that no longer exist are dropped.
func (e *Engine) rebuildAll() ([]proxier.Problem, []types.NamespacedName) {
	var problems []proxier.Problem
	names := e.src.ServiceNames()
	present := make(map[types.NamespacedName]bool, len(names))
	for _, name := range names {
		present[name] = true
		_, _, p := e.rebuild(name)
		problems = append(problems, p...)
	}
	for name := range e.desired.frags {
		if !present[name] {
			e.desired.set(name, nil)
		}
	}
	return problems, names
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
	adopting := !e.started
	e.cycle, e.nfCheck = nil, nil // a repair cycle in progress is superseded
	if adopting || rebuildAll {
		res.Problems, res.Rebuilt = e.rebuildAll()
	} else {
		res.Rebuilt = changed
		for _, name := range changed {
			_, _, p := e.rebuild(name)
			res.Problems = append(res.Problems, p...)
		}
	}
	observed, err := e.observe()
	if err != nil {
		logger.Error(err, "Failed to read the kernel state; full reconcile postponed")
		e.metrics.KernelError("list")
		res.Failures++
		res.RetryAfter = e.retry.failGlobal(e.clock.Now())
		return res
	}
	e.retry.succeedGlobal()
	observed.Netfilter = e.applied.Netfilter // netfilter is verified below, not listed
	e.applied = observed
	e.checkNetfilter(logger)
	e.started = true
	// Written fullChunk virtual servers at a time, so that a cold sync of
	// 10,000 services never holds its 110,000 operations at once.
	keys := unionKeys(e.desired.vs, observed.Services)
	for start := 0; start < len(keys); start += fullChunk {
		var ops []model.Op
		var gone []goneReal
		for _, k := range keys[start:min(start+fullChunk, len(keys))] {
			ops, gone = e.repairKey(ops, gone, k, observed.Services[k], adopting)
		}
		e.execute(ctx, ops, gone, &res)
	}
	e.execute(ctx, proxier.DiffAddresses(nil, e.wantedAddresses(observed.Addresses), observed.Addresses), nil, &res)
	if adopting {
		logger.Info("Adopted the existing kernel state", "virtualServers", len(observed.Services),
			"addresses", len(observed.Addresses), "writes", res.Writes, "draining", e.drains.count())
	}
	return res
}

// fullChunk is how many virtual servers Full diffs and writes at a time.
const fullChunk = 1000

// repairKey appends what brings one virtual server from have, as read from
// the kernel, to its desired state, after applying the drain policy.
func (e *Engine) repairKey(ops []model.Op, gone []goneReal, k model.VSKey, have *model.Service, adopting bool) ([]model.Op, []goneReal) {
	want := e.desired.vs[k]
	gone = appendGone(gone, k, e.decideRemovals(k, want, have, adopting))
	e.forgetVanishedDrains(k, have)
	return proxier.DiffService(ops, effective(want, e.drains[k]), have), gone
}

// checkNetfilter reads the netfilter program back (no writes): drift from
// what we applied makes the sync reapply it; at start, a program that
// already matches the desired intent (a restart) is adopted as applied.
func (e *Engine) checkNetfilter(logger klog.Logger) {
	if e.nfApplied {
		if err := e.cfg.Netfilter.Verify(&e.applied.Netfilter); err != nil {
			logger.Info("Netfilter program drifted; reapplying", "err", err)
			e.nfApplied = false
		}
	}
	if e.nfApplied {
		return
	}
	nf := e.desired.netfilter(&e.cfg.Build)
	if err := e.cfg.Netfilter.Verify(&nf); err == nil {
		e.nfApplied = true
		e.applied.Netfilter = nf
		return
	}
	e.desired.nfDirty = true
}

// wantedAddresses is the desired address set, plus bound addresses inside
// the exclude CIDRs, which are never unbound.
func (e *Engine) wantedAddresses(bound map[netip.Addr]struct{}) map[netip.Addr]struct{} {
	want := e.desired.addressSet()
	for a := range bound {
		if e.cfg.Owner.excluded(a) {
			want[a] = struct{}{}
		}
	}
	return want
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
	keys := make([]model.VSKey, 0, len(a)+len(b)/8)
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func uniqueKeys(keys []model.VSKey) []model.VSKey {
	slices.SortFunc(keys, compareKeys)
	return slices.Compact(keys)
}

func compareKeys(a, b model.VSKey) int { return a.Compare(b) }
