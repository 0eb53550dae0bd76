package daemon

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// addrDebounce is how long the first address notification waits before it
// triggers a sync, so that a burst (an `ip addr flush`, an interface
// deleted with its 10,000 addresses, our own cold sync) is handled by one.
const addrDebounce = 100 * time.Millisecond

// maxAddrChanges bounds the notifications kept between two syncs; past it
// they count as lost (one listing). Our own cold sync of 10,000 services
// stays below it.
const maxAddrChanges = 1 << 16

// addrWatch collects the kernel's address notifications (addr.Interface
// Watch, in its own goroutine) for the sync goroutine, which compares them
// with what it applied:
//
//	kernel ─► Watch ─► record (last state per address) ─► debounce ─► runner.Trigger
//	sync ─► take ─► Engine.RepairAddressDrift (dummy) / node-address check (other links)
//
// Idle, it costs nothing: Watch is blocked in the kernel and no timer runs.
type addrWatch struct {
	logger   klog.Logger
	trigger  func()
	debounce time.Duration

	mu sync.Mutex
	// dummy and host are the last reported state of each address of the
	// dummy interface and of the other links (true: added).
	dummy, host map[netip.Addr]bool
	// unknown: notifications were lost; link: the dummy interface was
	// deleted or recreated; armed: a trigger is scheduled.
	unknown, link, armed bool
}

// addrChanges is what the sync goroutine takes.
type addrChanges struct {
	dummy   reconcile.AddressChanges
	host    map[netip.Addr]bool
	unknown bool // notifications were lost: the host's addresses too
	link    bool
}

func newAddrWatch(logger klog.Logger, trigger func()) *addrWatch {
	return &addrWatch{logger: logger, trigger: trigger, debounce: addrDebounce,
		dummy: map[netip.Addr]bool{}, host: map[netip.Addr]bool{}}
}

// record is Watch's callback.
func (w *addrWatch) record(ev addr.Event) {
	w.mu.Lock()
	switch {
	case ev.Kind == addr.EventsLost:
		// Rare (an overflow, a failed subscription): worth a line.
		w.logger.Info("Lost address notifications; listing the addresses", "err", ev.Err)
		w.unknown = true
	case ev.Kind == addr.InterfaceChanged:
		w.link, w.unknown = true, true
	case len(w.dummy)+len(w.host) >= maxAddrChanges:
		w.unknown = true
	case ev.Dummy:
		w.dummy[ev.Addr] = ev.Kind == addr.AddressAdded
	default:
		w.host[ev.Addr] = ev.Kind == addr.AddressAdded
	}
	arm := !w.armed
	w.armed = true
	w.mu.Unlock()
	if !arm {
		return
	}
	if w.debounce <= 0 {
		w.fire()
		return
	}
	time.AfterFunc(w.debounce, w.fire)
}

func (w *addrWatch) fire() {
	w.mu.Lock()
	w.armed = false
	w.mu.Unlock()
	w.trigger()
}

// take returns the changes recorded since the last take and forgets them.
func (w *addrWatch) take() addrChanges {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := addrChanges{dummy: reconcile.AddressChanges{Addrs: w.dummy, Unknown: w.unknown},
		host: w.host, unknown: w.unknown, link: w.link}
	if len(w.dummy) > 0 {
		w.dummy = map[netip.Addr]bool{}
	}
	if len(w.host) > 0 {
		w.host = map[netip.Addr]bool{}
	}
	w.unknown, w.link = false, false
	return ch
}

// hostChanged reports whether the host's addresses may differ from those
// the node was computed from (a lifetime refresh of an address the host
// has is no change).
func (c *addrChanges) hostChanged(hostIPs []netip.Addr) bool {
	if c.unknown {
		return true
	}
	for a, present := range c.host {
		if present != slices.Contains(hostIPs, a) {
			return true
		}
	}
	return false
}

// watchAddresses runs the address watch until ctx is done.
func (d *daemon) watchAddresses(ctx context.Context) {
	d.deps.Adapters.Addresses.Watch(ctx, d.addrs.record)
}

// handleAddrChanges acts on the notifications taken at the start of a
// sync, before the engine runs: the dummy interface is ensured when it was
// deleted or recreated, or notifications were lost (it may be gone: its
// addresses could not be listed nor bound), and a change of the host's
// addresses forces the node-address check.
func (d *daemon) handleAddrChanges(ctx context.Context, ch *addrChanges) {
	if (ch.link || ch.unknown) && !d.cfg.DryRun {
		if err := d.deps.Adapters.Addresses.EnsureInterface(); err != nil {
			klog.FromContext(ctx).Error(err, "Failed to recreate the dummy interface")
		}
	}
	if d.nodeOK && ch.hostChanged(d.node.HostIPs) {
		d.hostAddrsChanged = true
	}
}
