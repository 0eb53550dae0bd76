package reconcile

import (
	"context"
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// IPVSLister reads IPVS without writing. Config.IPVSLister is one, on
// netlink sockets of its own, so that the periodic repair's reads run off
// the sync goroutine.
type IPVSLister interface {
	ListVirtualServers() ([]model.VirtualServer, error)
	ListRealServers(vs model.VSKey) ([]model.RealServer, error)
}

// backgroundRead is one of the repair cycle's kernel reads running off the
// sync goroutine (Config.IPVSLister): the virtual-server listing, or one
// chunk's real servers. At 100,000 virtual servers the kernel's listing
// takes 30-50 s in the test VM (it walks its service table from the start
// for every message it fills) and a chunk of 500 dumps 0.3-0.7 s; every
// change queued behind them waited as long. The sync goroutine keeps
// applying changes meanwhile and records the virtual servers it writes
// (touched): the read may have seen those before or after the write, so the
// step leaves them to the next cycle instead of repairing them from it.
type backgroundRead[T any] struct {
	touched map[model.VSKey]bool
	done    chan T // buffered: the goroutine never waits
}

// startRead runs read off the sync goroutine.
func startRead[T any](read func() T) *backgroundRead[T] {
	r := &backgroundRead[T]{touched: map[model.VSKey]bool{}, done: make(chan T, 1)}
	go func() { r.done <- read() }()
	return r
}

// result returns the read's result once it has finished.
func (r *backgroundRead[T]) result() (T, bool) {
	select {
	case v := <-r.done:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

type vsListed struct {
	vss []model.VirtualServer
	err error
}

// chunkRead is the real servers of a chunk's virtual servers, as read.
type chunkRead struct {
	keys  []model.VSKey
	reals [][]model.RealServer
	errs  []error
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
		c.listing = startRead(func() vsListed {
			vss, err := lister.ListVirtualServers()
			return vsListed{vss: vss, err: err}
		})
		return nil, nil, false, nil
	}
	r, ok := c.listing.result()
	if !ok {
		return nil, nil, false, nil
	}
	touched = c.listing.touched
	c.listing = nil
	return r.vss, touched, true, wrapList(r.err)
}

func wrapList(err error) error {
	if err != nil {
		return fmt.Errorf("listing IPVS virtual servers: %w", err)
	}
	return nil
}

// chunkStepInBackground is the chunk step with Config.IPVSLister: it
// repairs the chunk whose read has finished, if any, and starts reading the
// next one, so that the sync goroutine only compares and writes.
func (e *Engine) chunkStepInBackground(ctx context.Context, res *Result) {
	c := e.cycle
	if c.chunk != nil {
		r, ok := c.chunk.result()
		if !ok {
			return
		}
		touched := c.chunk.touched
		c.chunk = nil
		e.repairChunkRead(ctx, r, touched, res)
	}
	if len(c.keys) == 0 {
		return
	}
	n := min(e.repairChunk(), len(c.keys))
	keys := c.keys[:n:n]
	c.keys = c.keys[n:]
	lister := e.cfg.IPVSLister
	c.chunk = startRead(func() chunkRead {
		r := chunkRead{keys: keys, reals: make([][]model.RealServer, len(keys)), errs: make([]error, len(keys))}
		for i, k := range keys {
			r.reals[i], r.errs[i] = lister.ListRealServers(k)
		}
		return r
	})
}

// repairChunkRead repairs the virtual servers of a chunk read off the
// sync goroutine, but those written or deleted since the read started.
func (e *Engine) repairChunkRead(ctx context.Context, r chunkRead, touched map[model.VSKey]bool, res *Result) {
	var ops []model.Op
	var gone []goneReal
	for i, k := range r.keys {
		applied := e.applied.Services[k]
		if applied == nil {
			continue
		}
		if _, assumed := e.assumed[k]; touched[k] && assumed {
			// Written while read, and never read: read it here (adopt.go).
			ops, gone = e.readExact(ctx, ops, gone, k, res)
			continue
		}
		if touched[k] {
			continue
		}
		if err := r.errs[i]; err != nil {
			e.readFailed(ctx, k, err, res)
			continue
		}
		have := &model.Service{VirtualServer: applied.VirtualServer, Reals: r.reals[i]}
		e.setApplied(k, have)
		ops, gone = e.repairKey(ops, gone, k, have, e.adopting(), true)
	}
	e.execute(ctx, ops, gone, res)
	e.shareApplied(r.keys)
}

// touch records the virtual servers of ops as written while a read runs
// off the sync goroutine, or while the listing is compared (compare.go).
func (e *Engine) touch(ops []model.Op) {
	e.touchAddrs(ops)
	c := e.cycle
	if c == nil || c.listing == nil && c.chunk == nil && c.compare == nil {
		return
	}
	for _, op := range ops {
		if !isIPVSOp(op.Kind) {
			continue
		}
		if c.listing != nil {
			c.listing.touched[op.VS.VSKey] = true
		}
		if c.chunk != nil {
			c.chunk.touched[op.VS.VSKey] = true
		}
		if c.compare != nil {
			c.compare.touched[op.VS.VSKey] = true
		}
	}
}
