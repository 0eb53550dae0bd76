package reconcile

import (
	"context"
	"net/netip"

	"k8s.io/klog/v2"
)

// AddressChanges are the changes of the dummy interface's addresses that
// the kernel reported (rtnetlink notifications, addr.Interface.Watch)
// since they were last handed to the engine.
type AddressChanges struct {
	// Addrs is the last reported state of each address: true added,
	// false removed.
	Addrs map[netip.Addr]bool
	// Unknown: what changed is not known (notifications were lost, or the
	// interface was deleted or recreated).
	Unknown bool
}

// RepairAddressDrift repairs the dummy interface's addresses at once when
// the kernel reported a change that disagrees with the applied state: an
// address we bound was removed, one we did not bind was added, or what
// changed is unknown. The addresses are then listed once and made exact,
// as the address step of the periodic repair does, so drift of an address
// lasts a notification and one sync instead of up to --ipvs-sync-period.
// Changes that agree (the notifications of our own binds and unbinds: a
// cold sync makes 10,000+) cost a map lookup each and no listing. Before
// the first Full, which lists everything, it does nothing. It reports
// whether it listed.
func (e *Engine) RepairAddressDrift(ctx context.Context, ch AddressChanges, res *Result) bool {
	if !e.started {
		return false
	}
	drifted, why := ch.Unknown, netip.Addr{}
	for a, bound := range ch.Addrs {
		if _, applied := e.applied.Addresses[a]; applied != bound {
			drifted, why = true, a
			break
		}
	}
	if !drifted {
		return false
	}
	klog.FromContext(ctx).V(2).Info("Kernel reported address drift; repairing the dummy interface's addresses",
		"address", why, "unknown", ch.Unknown, "changes", len(ch.Addrs))
	e.listAndRepairAddresses(ctx, res)
	res.RetryAfter = e.status.next(e.clock.Now())
	return true
}

// listAndRepairAddresses lists the dummy interface's addresses and makes
// them exact: the desired ones bound, ours no longer desired unbound. It
// reports whether the listing succeeded (a failed one is retried like a
// failed Full). The periodic repair's address step and RepairAddressDrift
// share it.
func (e *Engine) listAndRepairAddresses(ctx context.Context, res *Result) bool {
	bound, err := e.listAddresses()
	if err != nil {
		e.listFailed(ctx, err, res)
		return false
	}
	e.status.done(Object{Kind: ObjKernelRead})
	e.applied.Addresses = bound
	e.execute(ctx, e.repairAddressOps(bound), nil, res)
	return true
}
