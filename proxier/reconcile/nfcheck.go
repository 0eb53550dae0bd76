package reconcile

import (
	"context"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// nfCheck is a netfilter read-back running off the sync goroutine, started
// by CheckNetfilter: reading back a large program takes seconds (10,000
// services in the test VM: 3 s), which would hold up every change queued
// behind it. The goroutine touches nothing but the adapter's Snapshot, its
// own channel and Config.NetfilterChecked.
type nfCheck struct {
	// gen is Engine.nfGen when the read started: a result read while the
	// engine wrote the program may have seen half a transaction and is
	// discarded.
	gen uint64
	// at is the kernel's nf_tables generation when the read started; a
	// clean result makes it the verified one.
	at nfVerified
	// started is when the read started.
	started time.Time
	// snap is what was read, set before done is sent (nil when the read
	// failed).
	snap model.NetfilterSnapshot
	done chan error // buffered, so the goroutine never waits
}

// nfVerified is a point at which our program was read back intact: the
// kernel's nf_tables generation and our own write count then.
type nfVerified struct {
	kernel uint32
	ours   uint64
	ok     bool
}

// netfilterReadBackMax bounds how long repairs skip the read-back because
// nothing was committed since the last clean one: after an hour (the period
// of kube-proxy's nftables-mode full resync) one reads back anyway, in case
// the generation check was fooled. At 10,000 services a read-back costs
// about 3 s of CPU in the test VM; forced every eleventh cycle, as it was,
// it made a sixth of the idle daemon's CPU.
const netfilterReadBackMax = time.Hour

// netfilterUnchanged reports whether no nftables transaction was committed,
// by us or anyone, since our program was last read back intact; then the
// read-back can be skipped. It also returns the point a clean read-back
// started now would verify (not ok when the generation is unknown).
func (e *Engine) netfilterUnchanged() (nfVerified, bool) {
	g, err := e.cfg.Netfilter.Generation()
	if err != nil {
		return nfVerified{}, false
	}
	now := nfVerified{kernel: g, ours: e.nfGen, ok: true}
	return now, e.nfVerified == now && e.clock.Since(e.nfVerifiedAt) < netfilterReadBackMax
}

// carryVerified carries the last clean read-back over the write of ours
// that just succeeded, when the nf_tables generation is exactly one past
// the verified one and ours was the only write since: then our
// transaction is the only one committed since the program was read back
// intact, and the kernel applies a transaction whole, so the program is
// what we wrote. Without it every change was followed, within
// --ipvs-sync-period, by a read-back of the whole program (100,000
// services: seconds of CPU in the test VM) that could only find what a
// foreign commit changed, and a foreign commit moves the generation on.
// Any other commit in between leaves the point behind, and the next check
// reads back.
func (e *Engine) carryVerified() {
	v := e.nfVerified
	if !v.ok || v.ours+1 != e.nfGen {
		return
	}
	if g, err := e.cfg.Netfilter.Generation(); err == nil && g == v.kernel+1 {
		e.nfVerified.kernel, e.nfVerified.ours = g, e.nfGen
	}
}

// startNetfilterCheck starts reading back the program we applied. Nothing
// is started while the program is not applied (the next sync applies it
// whole anyway), nor when no nftables transaction was committed since the
// last clean read-back (see netfilterUnchanged).
func (e *Engine) startNetfilterCheck() {
	if !e.nfApplied || e.cfg.DryRun {
		return
	}
	at, unchanged := e.netfilterUnchanged()
	if unchanged {
		return
	}
	intent := e.applied.Netfilter // applied intents are replaced, never changed in place
	c := &nfCheck{gen: e.nfGen, at: at, started: e.clock.Now(), done: make(chan error, 1)}
	nf, checked := e.cfg.Netfilter, e.cfg.NetfilterChecked
	go func() {
		s, err := nf.Snapshot()
		if err == nil {
			c.snap, err = s, s.Verify(&intent)
		}
		c.done <- err
		if checked != nil {
			checked()
		}
	}()
	e.nfCheck = c
}

// CheckNetfilter is the cheap periodic check of the netfilter program
// (the daemon calls it every --ipvs-sync-period, between repair cycles): it
// collects a read-back that has finished and reports whether it found
// drift, which the next sync repairs; otherwise it starts a read-back if
// anyone committed an nftables transaction since the last clean one (one
// NFT_MSG_GETGEN request when nobody did). It never waits for a read-back.
func (e *Engine) CheckNetfilter(ctx context.Context) (drifted bool) {
	if e.nfCheck != nil {
		return e.collectNetfilterCheck(klog.FromContext(ctx))
	}
	e.startNetfilterCheck()
	return false
}

// collectNetfilterCheck takes the result of the running check if it has
// finished and reports whether it found drift. Drift makes the next
// execute reapply the program.
func (e *Engine) collectNetfilterCheck(logger klog.Logger) (drifted bool) {
	c := e.nfCheck
	var err error
	select {
	case err = <-c.done:
	default:
		return false
	}
	e.nfCheck = nil
	switch {
	case err == nil:
		e.nfVerified, e.nfVerifiedAt = c.at, c.started
	case c.gen != e.nfGen:
		logger.V(4).Info("Discarded a netfilter read-back that overlapped a write", "err", err)
	case e.nfApplied:
		logger.Info("Netfilter program drifted; reapplying", "err", err)
		e.nfApplied, e.nfStale, e.nfDrifted = false, true, c.snap
		return true
	}
	return false
}

// CheckingNetfilter reports whether a read-back started by CheckNetfilter
// is still to be collected.
func (e *Engine) CheckingNetfilter() bool { return e.nfCheck != nil }
