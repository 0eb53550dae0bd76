package reconcile

import (
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The first Full reads our netfilter program back twice over: for the
// record of what a previous run created (adopt.go) and to verify the
// program against the intent. Neither needs the API: at 100,000 services
// in the test VM the two reads took 40 s of a restart's first sync while
// nothing else ran, after the informers' 95 s of listing. So the first
// Full reads the program once, and the daemon starts that read while the
// informers list (ReadAhead). The read is only used when no nftables
// transaction was committed since it began: the nf_tables generation,
// which every commit changes, is taken before the read and compared when
// the Full takes the result; the engine writes nothing before its first
// Full, so a changed generation means someone else committed and the
// program is read again.

// readAhead is a netfilter snapshot taken off the sync goroutine before
// the first Full. The goroutine touches nothing but the adapter and the
// fields it sets before closing done.
type readAhead struct {
	started time.Time
	took    time.Duration
	gen     uint32
	snap    model.NetfilterSnapshot
	err     error
	done    chan struct{}
}

// ReadAhead starts reading the netfilter program back for the first Full:
// the daemon calls it before the informers have listed. It does nothing
// once the engine has started.
func (e *Engine) ReadAhead() {
	if e.started || e.readAhead != nil {
		return
	}
	ra := &readAhead{started: e.clock.Now(), done: make(chan struct{})}
	nf, clk := e.cfg.Netfilter, e.clock
	go func() {
		defer close(ra.done)
		if ra.gen, ra.err = nf.Generation(); ra.err == nil {
			ra.snap, ra.err = nf.Snapshot()
		}
		ra.took = clk.Since(ra.started)
	}()
	e.readAhead = ra
}

// firstSnapshot is the netfilter snapshot of the first Full: the read
// ahead when it is still current, else one read now.
func (e *Engine) firstSnapshot(logger klog.Logger) (model.NetfilterSnapshot, error) {
	ra := e.readAhead
	e.readAhead = nil
	if ra != nil {
		<-ra.done
		g, err := e.cfg.Netfilter.Generation()
		current := ra.err == nil && err == nil && g == ra.gen
		logger.Info("Read the netfilter program back ahead of the first sync", "duration", ra.took, "current", current)
		if current {
			return ra.snap, nil
		}
	}
	return e.cfg.Netfilter.Snapshot()
}
