package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// AddressLister lists the dummy interface's addresses without writing.
// Config.AddressLister is one, on netlink sockets of its own, so that the
// repair's address step lists off the sync goroutine.
type AddressLister interface {
	List() ([]netip.Addr, error)
}

// addrStep is the repair's address step in progress, from the start of its
// listing to the end of its comparison: the listing (off the sync goroutine
// with Config.AddressLister), then the listing compared with the desired and
// applied addresses a slice at a time, as vsCompare does for virtual
// servers. At 100,000 services the step held the sync goroutine 6 s in the
// test VM when it listed and compared in one go.
type addrStep struct {
	listing *backgroundRead[addrsListed]
	// listed is the listing, sorted, less the host's addresses (boundOf);
	// listed[next:] are still to compare. nil until the listing is in.
	listed []netip.Addr
	next   int
	// known are the desired and applied addresses still to look for in
	// the listing; nil until the first pass has ended.
	known []netip.Addr
	// touched are the addresses bound or unbound since the listing
	// started: the listing may predate the write, so they are left as the
	// write left them.
	touched map[netip.Addr]bool
}

type addrsListed struct {
	addrs []netip.Addr
	err   error
}

// repairAddresses is the address step: see Repair.
func (e *Engine) repairAddresses(ctx context.Context, res *Result) {
	c := e.cycle
	if c.addrs == nil {
		c.addrs = &addrStep{touched: map[netip.Addr]bool{}}
	}
	s := c.addrs
	if s.listed == nil {
		addrs, ready, err := e.readAddresses(s)
		if !ready {
			return
		}
		if err != nil {
			c.addrs = nil // listed again by the next step
			e.addrListFailed(ctx, err, res)
			return
		}
		c.addrListFailures = 0
		e.status.done(Object{Kind: ObjKernelRead})
		// The host's addresses are not ours; the adapter lists sorted (at
		// 100,000 a map and a sort here were 54 ms on the host).
		addrs = slices.DeleteFunc(addrs, e.isHostAddr)
		if !slices.IsSortedFunc(addrs, netip.Addr.Compare) {
			slices.SortFunc(addrs, netip.Addr.Compare)
		}
		s.listed = slices.Compact(addrs)
		if s.listed == nil {
			s.listed = []netip.Addr{} // listed, and empty
		}
	}
	if e.compareAddresses(ctx, res) {
		c.addressed, c.addrs = true, nil
	}
}

// addrListFailures is how many listings off the sync goroutine may fail in
// a row before the failure counts as a failed kernel read (retried by a
// Full): the kernel interrupts a route dump that our own binds change while
// it runs (NLM_F_DUMP_INTR; the adapter repeats it three times), which the
// sync goroutine's writes can now do.
const addrListFailures = 3

// addrListFailed retries a failed address listing at the next step, or
// reports it as a failed kernel read after addrListFailures in a row (and
// always without an AddressLister, as a failed Full is).
func (e *Engine) addrListFailed(ctx context.Context, err error, res *Result) {
	c := e.cycle
	c.addrListFailures++
	if e.cfg.AddressLister == nil || c.addrListFailures >= addrListFailures {
		c.addrListFailures = 0
		e.listFailed(ctx, err, res)
		return
	}
	e.metrics.KernelError("list")
	klog.FromContext(ctx).V(2).Info("Failed to list addresses off the sync goroutine; listing again at the next step", "err", err)
}

// readAddresses lists the addresses: on the sync goroutine without an
// AddressLister; with one, the first call starts the listing and reports
// not ready until it has finished.
func (e *Engine) readAddresses(s *addrStep) (addrs []netip.Addr, ready bool, err error) {
	lister := e.cfg.AddressLister
	if lister == nil {
		addrs, err := e.cfg.Addresses.List()
		return addrs, true, wrapAddrList(err)
	}
	if s.listing == nil {
		s.listing = startRead(func() addrsListed {
			addrs, err := lister.List()
			return addrsListed{addrs: addrs, err: err}
		})
		return nil, false, nil
	}
	r, ok := s.listing.result()
	if !ok {
		return nil, false, nil
	}
	s.listing = nil
	return r.addrs, true, wrapAddrList(r.err)
}

// compareAddresses compares the next slice of the address step and reports
// whether the comparison has ended. First pass: each listed address is
// recorded as bound, and unbound when no longer wanted. Second pass: each
// desired or applied address the listing lacks is recorded as unbound, and
// bound when wanted.
func (e *Engine) compareAddresses(ctx context.Context, res *Result) bool {
	s := e.cycle.addrs
	budget := e.compareSlice()
	var ops []model.Op
	var looked []netip.Addr
	for ; budget > 0 && s.next < len(s.listed); budget-- {
		a := s.listed[s.next]
		s.next++
		if s.touched[a] {
			continue
		}
		looked = append(looked, a)
		e.applied.Addresses[a] = struct{}{}
		if !e.wantsAddress(a, true) {
			ops = append(ops, model.Op{Kind: model.OpUnbindAddress, Addr: a})
		}
	}
	if s.next == len(s.listed) && s.known == nil {
		s.known = e.knownAddresses()
	}
	for ; budget > 0 && len(s.known) > 0; budget-- {
		a := s.known[0]
		s.known = s.known[1:]
		if _, listed := slices.BinarySearchFunc(s.listed, a, netip.Addr.Compare); listed || s.touched[a] {
			continue
		}
		looked = append(looked, a)
		delete(e.applied.Addresses, a)
		if e.wantsAddress(a, false) {
			ops = append(ops, model.Op{Kind: model.OpBindAddress, Addr: a})
		}
	}
	if len(e.status.addrs) > 0 {
		ops = e.status.settleAddresses(looked, ops, true)
	}
	e.execute(ctx, ops, nil, res)
	return s.known != nil && len(s.known) == 0
}

// knownAddresses returns the desired addresses and the applied ones that
// are not desired.
func (e *Engine) knownAddresses() []netip.Addr {
	out := slices.AppendSeq(make([]netip.Addr, 0, len(e.applied.Addresses)), e.desired.AddressSeq())
	for a := range e.applied.Addresses {
		if !e.desired.Bound(a) {
			out = append(out, a)
		}
	}
	return out
}

// touchAddrs records the addresses of ops as written while the address step
// is in progress.
func (e *Engine) touchAddrs(ops []model.Op) {
	if e.cycle == nil || e.cycle.addrs == nil {
		return
	}
	for _, op := range ops {
		if !isIPVSOp(op.Kind) {
			e.cycle.addrs.touched[op.Addr] = true
		}
	}
}

func wrapAddrList(err error) error {
	if err != nil {
		return fmt.Errorf("listing dummy interface addresses: %w", err)
	}
	return nil
}
