package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// kernelRead is the raw kernel state the first Full adopts, unfiltered:
// ownership is decided when it is used, against the node and the desired
// state of that moment.
type kernelRead struct {
	addrs []netip.Addr
	svcs  []*model.Service
	err   error
	// ports are the service ports our netfilter program records (see
	// Owner) and portsErr the failure to read them; read only by Prefetch.
	ports    []model.VSKey
	portsErr error
	took     time.Duration
}

// listingIPVS is what reading the whole IPVS table needs: the IPVS adapter,
// or with Prefetch, Config.IPVSLister.
type listingIPVS interface {
	ListServices() ([]*model.Service, error)
}

// readKernel lists the dummy interface's addresses (on a) and every virtual
// server with its real servers (on v).
func (e *Engine) readKernel(v listingIPVS, a AddressLister) kernelRead {
	start := e.clock.Now()
	addrs, err := a.List()
	if err != nil {
		return kernelRead{err: fmt.Errorf("listing dummy interface addresses: %w", err)}
	}
	svcs, err := v.ListServices()
	if err != nil {
		return kernelRead{err: fmt.Errorf("listing IPVS services: %w", err)}
	}
	return kernelRead{addrs: addrs, svcs: svcs, took: e.clock.Since(start)}
}

// Prefetch starts the first Full's kernel read off the caller's goroutine,
// on Config.IPVSLister, so that a restart reads the kernel while the
// informers list the API server instead of after: at 100,000 services the
// two took about two minutes each in the test VM, one after the other, and
// the node was not ready until both had. The daemon calls it once, before
// it starts the informers; without an IPVSLister, or after the first Full,
// it does nothing.
//
// Nothing is written before the first Full, so the read is what that Full
// would have read itself, but for changes someone else makes to the kernel
// while the informers sync: an address is reported by the kernel's
// notifications (the daemon's address watch asks for a sync), an IPVS
// change is drift that the periodic checks and repair find, as at any other
// time. The read uses the listers' sockets (Config.IPVSLister,
// Config.AddressLister) and the netfilter adapter, which nothing else uses
// before the first Full.
func (e *Engine) Prefetch() {
	if e.started || e.prefetch != nil || e.cfg.IPVSLister == nil {
		return
	}
	var addrs AddressLister = e.cfg.Addresses
	if e.cfg.AddressLister != nil {
		addrs = e.cfg.AddressLister // the daemon reads the host's addresses on Addresses meanwhile
	}
	e.prefetch = startRead(func() kernelRead {
		r := e.readKernel(e.cfg.IPVSLister, addrs)
		r.ports, r.portsErr = e.cfg.Netfilter.ServicePorts()
		return r
	})
}

// prefetched waits for the read Prefetch started, if any, and returns it;
// ok is false without one or when ctx ended first.
func (e *Engine) prefetched(ctx context.Context) (r kernelRead, ok bool) {
	p := e.prefetch
	if p == nil {
		return kernelRead{}, false
	}
	e.prefetch = nil
	select {
	case r = <-p.done:
		return r, true
	case <-ctx.Done():
		return kernelRead{}, false
	}
}
