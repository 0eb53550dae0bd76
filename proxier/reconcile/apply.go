package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// goneReal is a real server deleted without a drain; UDP ones get their
// conntrack entries flushed once the deletion succeeded.
type goneReal struct {
	vs model.VSKey
	rs model.RSKey
}

func appendGone(out []goneReal, k model.VSKey, rs []model.RSKey) []goneReal {
	for _, r := range rs {
		out = append(out, goneReal{vs: k, rs: r})
	}
	return out
}

// addressOps appends bind/unbind operations for the touched addresses,
// less those of failed addresses (see statusTable.settleAddresses).
func (e *Engine) addressOps(ops []model.Op, addrs []netip.Addr, repairing bool) []model.Op {
	want := map[netip.Addr]struct{}{}
	have := map[netip.Addr]struct{}{}
	for _, a := range addrs {
		if e.desired.Bound(a) {
			want[a] = struct{}{}
		}
		if _, ok := e.applied.Addresses[a]; ok {
			have[a] = struct{}{}
			if e.cfg.Owner.excluded(a) {
				want[a] = struct{}{}
			}
		}
	}
	start := len(ops)
	ops = proxier.DiffAddresses(ops, want, have)
	return append(ops[:start], e.status.settleAddresses(addrs, ops[start:], repairing)...)
}

// execute applies operations in plan order, then the netfilter intent when
// it changed, then conntrack cleanup. A failed call never aborts the sync:
// the failure is counted and its object gets a status (statusTable.fail):
// a transient error is retried with backoff, a refusal fails the object
// until it changes; the operations that depend on it (real servers of a
// virtual server that could not be added) fail with it.
func (e *Engine) execute(ctx context.Context, ops []model.Op, gone []goneReal, res *Result) {
	logger := klog.FromContext(ctx)
	proxier.SortOps(ops)
	if e.cfg.DryRun {
		e.dryRun(logger, ops)
		return
	}
	udpRevived := e.udpRevived(ops)
	// failed: some operation of the virtual server failed (retry it).
	failed := map[model.VSKey]bool{}
	var firstErr error
	errs := e.perform(ops)
	// Formatting every operation costs as much as a large sync's writes:
	// only when asked for.
	v5 := logger.V(5)
	for i, op := range ops {
		switch errs[i] {
		case errNotSent:
			// Its virtual server's status stands for it: a retry of its
			// own would bypass the virtual server's backoff.
			e.status.done(objectOf(op))
			continue
		case errAddressInUse:
			e.status.fail(objectOf(op), op, errs[i], e.clock.Now()) // retried after its virtual servers
			continue
		}
		res.Writes++
		if v5.Enabled() {
			v5.Info("Applied kernel operation", "op", op.String(), "err", errs[i])
		}
		if err := errs[i]; err != nil {
			res.Failures++
			e.metrics.KernelError(op.Kind.String())
			if firstErr == nil {
				firstErr = err
			}
			e.failed(logger, op, err, res)
			if isIPVSOp(op.Kind) {
				failed[op.VS.VSKey] = true
			}
			continue
		}
		e.record(op)
		if op.Kind == model.OpAddVirtualServer && e.isForeign(op.VS.VSKey) {
			e.nfStale = true // ours now: its ports return to the intent
		}
		e.status.done(objectOf(op))
	}
	e.shareApplied(ipvsKeys(ops))
	e.applyNetfilter(res, &firstErr)
	e.flushConntrack(ctx, gone, udpRevived, failed)
	if firstErr != nil {
		logger.Error(firstErr, "Kernel operations failed", "failed", res.Failures, "writes", res.Writes)
	}
	res.RetryAfter = e.status.next(e.clock.Now())
}

// failed records a failed operation in the status table; an object that
// failed for good is returned in the result, once, for the caller to log
// and report.
func (e *Engine) failed(logger klog.Logger, op model.Op, err error, res *Result) {
	o := objectOf(op)
	st, newly := e.status.fail(o, op, err, e.clock.Now())
	if !newly {
		logger.V(2).Info("Kernel operation failed; will retry", "op", op.String(), "err", err, "attempts", st.Attempts)
		return
	}
	if st.Reason == ReasonForeign {
		e.nfStale = true // its ports leave the netfilter intent
	}
	oe := ObjectError{Object: o, Reason: st.Reason, Err: err}
	if o.Kind != ObjAddress {
		oe.Service, _ = e.desired.Owner(o.VS)
	}
	res.ObjectErrors = append(res.ObjectErrors, oe)
}

func isIPVSOp(k model.OpKind) bool { return k != model.OpBindAddress && k != model.OpUnbindAddress }

// perform applies sorted operations in plan order: runs of IPVS operations
// and runs of address binds go to the kernel as batches (many requests per
// netlink write), unbinds one by one after the deletions (see
// unbindAfterDeletes). "Already exists" and "not found" are idempotent: an
// add of an existing object is retried as an update and an update of a
// missing object as an add.
func (e *Engine) perform(ops []model.Op) []error {
	e.touch(ops)
	errs := make([]error, len(ops))
	var unbinds []int
	for i := 0; i < len(ops); {
		j := i
		for j < len(ops) && isIPVSOp(ops[j].Kind) {
			j++
		}
		if j > i {
			e.performIPVS(ops[i:j], errs[i:j])
			i = j
			continue
		}
		for j < len(ops) && ops[j].Kind == model.OpBindAddress {
			j++
		}
		if j > i {
			addrs := make([]netip.Addr, j-i)
			for k := range addrs {
				addrs[k] = ops[i+k].Addr
			}
			copy(errs[i:j], e.cfg.Addresses.BindAll(addrs))
			i = j
			continue
		}
		unbinds = append(unbinds, i)
		i++
	}
	e.unbindAfterDeletes(ops, errs, unbinds)
	return errs
}

// errAddressInUse marks an unbind not sent because a virtual server of ours
// that is no longer wanted is still on the address (its deletion failed, or
// waits for a later repair step). It is not a kernel error: the address
// waits for a retry, which unbinds it once the virtual server is gone.
var errAddressInUse = errors.New("not unbound: a virtual server on it is not deleted yet")

// unbindAfterDeletes unbinds the addresses of ops[unbinds], after the
// plan's deletions, except those on which a virtual server of ours that is
// no longer wanted is left: after a restart, the binding is what makes
// that virtual server ours (see Owner), so unbinding the address first
// would leave it to nobody, never deleted.
func (e *Engine) unbindAfterDeletes(ops []model.Op, errs []error, unbinds []int) {
	if len(unbinds) == 0 {
		return
	}
	unbinding := make(map[netip.Addr]bool, len(unbinds))
	for _, i := range unbinds {
		unbinding[ops[i].Addr] = true
	}
	deleted := map[model.VSKey]bool{}
	for i, op := range ops {
		if op.Kind == model.OpDeleteVirtualServer && errs[i] == nil {
			deleted[op.VS.VSKey] = true
		}
	}
	// Only the virtual servers of this plan and those with a status can be
	// left undeleted: any other that became unwanted was planned for
	// deletion when it did (its service changed, or a Full saw it), and a
	// failed deletion has a status. Looking at those alone keeps a service
	// deletion O(its virtual servers), not O(all).
	inUse := map[netip.Addr]bool{}
	check := func(k model.VSKey) {
		if unbinding[k.Addr] && !deleted[k] && e.desired.VirtualServer(k) == nil && e.applied.Services[k] != nil {
			inUse[k.Addr] = true
		}
	}
	for _, op := range ops {
		if isIPVSOp(op.Kind) {
			check(op.VS.VSKey)
		}
	}
	for k := range e.status.vs {
		check(k)
	}
	for _, i := range unbinds {
		if a := ops[i].Addr; inUse[a] {
			errs[i] = errAddressInUse
		} else {
			errs[i] = e.cfg.Addresses.Unbind(a)
		}
	}
}

// errNotSent marks an operation not sent because its virtual server could
// not be added: it has no status of its own (one left from before is
// done), since the virtual server's retry (or change) plans it again.
var errNotSent = errors.New("not sent: its virtual server was not added")

// performIPVS applies a sorted run of IPVS operations. The virtual servers
// to add go first, in a batch of their own: an add that fails (a foreign
// virtual server is there, the scheduler is missing) fails the operations
// of its virtual server without sending them, so that nothing is added to
// a virtual server that is not ours. The rest goes in a second batch.
func (e *Engine) performIPVS(ops []model.Op, errs []error) {
	n := 0
	for n < len(ops) && ops[n].Kind == model.OpAddVirtualServer {
		n++
	}
	var failedAdds map[model.VSKey]error
	if n > 0 && n < len(ops) {
		copy(errs[:n], e.cfg.IPVS.ApplyBatch(ops[:n]))
		for k := range n {
			if errs[k] = e.idempotent(ops[k], errs[k]); errs[k] != nil {
				if failedAdds == nil {
					failedAdds = map[model.VSKey]error{}
				}
				failedAdds[ops[k].VS.VSKey] = errs[k]
			}
		}
		ops, errs = ops[n:], errs[n:]
	}
	send := make([]model.Op, 0, len(ops))
	at := make([]int, 0, len(ops))
	for k, op := range ops {
		if _, ok := failedAdds[op.VS.VSKey]; ok {
			errs[k] = errNotSent
			continue
		}
		send, at = append(send, op), append(at, k)
	}
	for k, err := range e.cfg.IPVS.ApplyBatch(send) {
		errs[at[k]] = e.idempotent(send[k], err)
	}
}

// idempotent retries an add that met an existing object as an update, an
// update that met a missing object as an add, and a real server add that
// met a missing virtual server after adding the virtual server.
func (e *Engine) idempotent(op model.Op, err error) error {
	v, k := e.cfg.IPVS, op.VS.VSKey
	switch {
	case err == nil:
		return nil
	case op.Kind == model.OpAddVirtualServer && errors.Is(err, ipvs.ErrExists):
		// Not in the applied state, yet in the kernel: someone created it
		// since we last read it. Ours only if the ownership rule says so.
		if owned, _ := e.ownership(e.applied.Addresses)(k); !owned {
			return fmt.Errorf("%s: %w", k, ErrForeign)
		}
		return v.UpdateVirtualServer(op.VS)
	case op.Kind == model.OpUpdateVirtualServer && errors.Is(err, ipvs.ErrNotFound):
		return v.AddVirtualServer(op.VS)
	case op.Kind == model.OpAddRealServer && errors.Is(err, ipvs.ErrExists):
		return v.UpdateRealServer(k, op.RS)
	case op.Kind == model.OpUpdateRealServer && errors.Is(err, ipvs.ErrNotFound):
		return v.AddRealServer(k, op.RS)
	case op.Kind == model.OpAddRealServer && errors.Is(err, ipvs.ErrNotFound):
		// The virtual server is gone (someone deleted it since we last
		// read it): recreate it, then add the real server.
		if err := v.AddVirtualServer(op.VS); err != nil && !errors.Is(err, ipvs.ErrExists) {
			return err
		}
		// (Exists: created by a concurrent add of ours in this batch.)
		return v.AddRealServer(k, op.RS)
	}
	return err
}

// record updates the applied state after a successful operation.
func (e *Engine) record(op model.Op) {
	k := op.VS.VSKey
	a := e.applied
	switch op.Kind {
	case model.OpAddVirtualServer, model.OpUpdateVirtualServer:
		if s := e.ownApplied(k); s != nil {
			s.VirtualServer = op.VS
		} else {
			// Sized for the real servers that follow; shareApplied then
			// replaces it with the desired one.
			var reals []model.RealServer
			if want := e.desired.VirtualServer(k); want != nil {
				reals = make([]model.RealServer, 0, len(want.Reals))
			}
			// It may have existed unknown to us, with real servers we did
			// not write: unconfirmed until read if it was, or while
			// adopting (adopt.go).
			_, unread := e.assumed[k]
			e.setApplied(k, &model.Service{VirtualServer: op.VS, Reals: reals})
			if unread {
				e.assumed[k] = struct{}{}
			} else {
				e.unconfirm(k)
			}
		}
	case model.OpDeleteVirtualServer:
		e.setApplied(k, nil)
	case model.OpAddRealServer, model.OpUpdateRealServer:
		if s := e.ownApplied(k); s != nil {
			n := len(s.Reals)
			s.SetReal(op.RS)
			e.appliedReals += len(s.Reals) - n
		}
	case model.OpDeleteRealServer:
		if s := e.ownApplied(k); s != nil {
			n := len(s.Reals)
			s.DeleteReal(op.RS.RSKey)
			e.appliedReals += len(s.Reals) - n
		}
	case model.OpBindAddress:
		a.Addresses[op.Addr] = struct{}{}
	case model.OpUnbindAddress:
		delete(a.Addresses, op.Addr)
	}
}

// applyNetfilter applies the netfilter intent when it changed or a previous
// attempt failed, in one transaction: an update from the applied intent
// when the kernel is known to hold it (applied or verified), a repair from
// a read-back that found it drifted, else the whole program.
func (e *Engine) applyNetfilter(res *Result, firstErr *error) {
	if !e.netfilterStale() && e.nfApplied {
		return
	}
	nf, changed := e.netfilterNext()
	if e.nfApplied && (changed != nil && changed.Empty() || changed == nil && nf.Equal(&e.applied.Netfilter)) {
		return
	}
	res.Writes++
	e.nfGen++
	var err error
	switch drifted := e.nfDrifted; {
	case e.nfApplied:
		err = e.cfg.Netfilter.Update(&e.applied.Netfilter, &nf, changed)
	case drifted != nil:
		e.nfDrifted = nil // one attempt: if it fails, the next is a whole Apply
		err = e.cfg.Netfilter.Repair(drifted, &nf)
	default:
		err = e.cfg.Netfilter.Apply(&nf)
	}
	if err != nil {
		res.Failures++
		e.metrics.KernelError("netfilter")
		e.nfApplied = false
		e.nfStale = true
		e.status.failOther(ObjNetfilter, err, e.clock.Now())
		if *firstErr == nil {
			*firstErr = err
		}
		return
	}
	e.status.done(Object{Kind: ObjNetfilter})
	e.nfApplied = true
	e.applied.Netfilter = nf
	e.carryVerified()
}

// udpRevived lists the UDP virtual servers that get their first usable real
// server in this plan: conntrack entries created while they had none would
// keep blackholing those clients (kube-proxy clears them the same way).
func (e *Engine) udpRevived(ops []model.Op) []model.VSKey {
	var out []model.VSKey
	for _, op := range ops {
		k := op.VS.VSKey
		if k.Proto != model.UDP || op.RS.Weight == 0 || (op.Kind != model.OpAddRealServer && op.Kind != model.OpUpdateRealServer) {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == k {
			continue
		}
		if !hasUsable(e.applied, k) {
			out = append(out, k)
		}
	}
	return out
}

func hasUsable(st *model.State, k model.VSKey) bool {
	rs, _ := st.Route(k)
	return len(rs) > 0
}

// flushConntrack deletes the UDP conntrack entries of real servers deleted
// without a drain and of UDP services that just got a usable backend, one
// family at a time, as kube-proxy's per-family conntrack reconciler does
// (its kubeproxy_conntrack_reconciler_* metrics).
func (e *Engine) flushConntrack(ctx context.Context, gone []goneReal, revived []model.VSKey, failed map[model.VSKey]bool) {
	var filters [2][]conntrack.Filter
	fam := func(a netip.Addr) int {
		if a.Is4() {
			return 0
		}
		return 1
	}
	for _, g := range gone {
		if g.vs.Proto == model.UDP && !failed[g.vs] {
			f := fam(g.vs.Addr)
			filters[f] = append(filters[f], conntrack.ForEndpoint(g.vs.Proto, g.vs.Addr, g.vs.Port, netip.AddrPortFrom(g.rs.Addr, g.rs.Port)))
		}
	}
	for _, k := range revived {
		if !failed[k] {
			filters[fam(k.Addr)] = append(filters[fam(k.Addr)], conntrack.ForService(k.Proto, k.Addr, k.Port))
		}
	}
	for f, family := range []string{"IPv4", "IPv6"} {
		if len(filters[f]) > 0 {
			e.clearConntrack(ctx, family, filters[f])
		}
	}
}

func (e *Engine) clearConntrack(ctx context.Context, family string, filters []conntrack.Filter) {
	start := e.clock.Now()
	n, err := e.cfg.Conntrack.Clear(filters...)
	e.metrics.ConntrackCleared(family, e.clock.Since(start), n)
	if err != nil {
		e.metrics.KernelError("conntrack")
		klog.FromContext(ctx).Error(err, "Failed to clear stale UDP conntrack entries", "family", family, "filters", len(filters), "cleared", n)
	} else {
		klog.FromContext(ctx).V(4).Info("Cleared stale UDP conntrack entries", "family", family, "filters", len(filters), "cleared", n)
	}
}

// dryRun logs the plan and records it as applied, touching nothing.
func (e *Engine) dryRun(logger klog.Logger, ops []model.Op) {
	plan := &model.Plan{Ops: ops}
	if e.netfilterStale() || !e.nfApplied {
		nf := e.netfilterIntent()
		if !e.nfApplied || !nf.Equal(&e.applied.Netfilter) {
			plan.Netfilter = &nf
			e.applied.Netfilter = nf
			e.nfGen++
		}
		e.nfApplied = true
	}
	for _, op := range ops {
		e.record(op)
	}
	if !plan.Empty() {
		logger.Info("Dry run: would apply plan", "writes", plan.Len(), "plan", plan.String())
	}
}
