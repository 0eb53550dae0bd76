package reconcile

import (
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// VirtualServerLister lists IPVS virtual servers without their real
// servers. Config.IPVSLister is one, on its own netlink socket, so that the
// repair's virtual-server listing can run off the sync goroutine.
type VirtualServerLister interface {
	ListVirtualServers() ([]model.VirtualServer, error)
}

// vsListing is the repair cycle's virtual-server listing running off the
// sync goroutine (Config.IPVSLister). At 100,000 virtual servers the
// kernel's dump takes 30-50 s in the test VM (it walks its service table
// from the start for every message it fills), which held every change
// queued behind the step as long. The sync goroutine keeps applying
// changes meanwhile and records the virtual servers it writes (touched):
// the listing may have seen those before or after the write, so the step
// leaves them to the next cycle instead of repairing them from it.
type vsListing struct {
	touched map[model.VSKey]bool
	done    chan vsListed // buffered: the goroutine never waits
}

type vsListed struct {
	vss []model.VirtualServer
	err error
}

// readVirtualServers returns the kernel's virtual servers for the
// virtual-server step, and the keys written since the listing started (nil
// when it ran here). Without Config.IPVSLister it lists on the sync
// goroutine. With it, the first call starts the listing and returns not
// ready; later calls return not ready until it has finished.
func (e *Engine) readVirtualServers() (vss []model.VirtualServer, touched map[model.VSKey]bool, ready bool, err error) {
	lister := e.cfg.IPVSLister
	if lister == nil {
		vss, err = e.cfg.IPVS.ListVirtualServers()
		return vss, nil, true, wrapList(err)
	}
	c := e.cycle
	if c.listing == nil {
		l := &vsListing{touched: map[model.VSKey]bool{}, done: make(chan vsListed, 1)}
		go func() {
			vss, err := lister.ListVirtualServers()
			l.done <- vsListed{vss: vss, err: err}
		}()
		c.listing = l
		return nil, nil, false, nil
	}
	select {
	case r := <-c.listing.done:
		touched = c.listing.touched
		c.listing = nil
		return r.vss, touched, true, wrapList(r.err)
	default:
		return nil, nil, false, nil
	}
}

func wrapList(err error) error {
	if err != nil {
		return fmt.Errorf("listing IPVS virtual servers: %w", err)
	}
	return nil
}

// touch records the virtual servers of ops as written while a listing runs
// off the sync goroutine.
func (e *Engine) touch(ops []model.Op) {
	if e.cycle == nil || e.cycle.listing == nil {
		return
	}
	for _, op := range ops {
		if isIPVSOp(op.Kind) {
			e.cycle.listing.touched[op.VS.VSKey] = true
		}
	}
}
