package reconcile

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// snapshots counts the netfilter read-backs so far.
func (r *rig) snapshots() int { return r.nf.Calls(netfilter.CallSnapshot) }

// TestReadAheadIsTheFirstSyncsNetfilterRead: a restart's netfilter program
// is read back once, ahead of the first sync, and that one read serves the
// record and the check; the first sync writes nothing.
func TestReadAheadIsTheFirstSyncsNetfilterRead(t *testing.T) {
	r, _ := manyRig(t, 10, 4)
	r.restart()
	before, nf := r.snapshots(), r.nfWrites()
	r.eng.ReadAhead()
	if res := r.full(); res.Writes != 0 || r.nfWrites() != nf {
		t.Errorf("the first sync wrote %d times (netfilter %d)", res.Writes, r.nfWrites()-nf)
	}
	if got := r.snapshots() - before; got != 1 {
		t.Errorf("the restart read the netfilter program %d times, want 1", got)
	}
	if !r.eng.Adopting() {
		t.Error("the read-ahead's record was not used: the restart did not assume the recorded virtual servers")
	}
}

// TestReadAheadOutdatedByACommitIsReadAgain: a commit between the read
// ahead and the first sync (someone changed a rule of our program) makes
// the first sync read the program again, see the drift and repair it,
// instead of trusting a read of a program that is no longer there.
func TestReadAheadOutdatedByACommitIsReadAgain(t *testing.T) {
	r, _ := manyRig(t, 10, 4)
	r.restart()
	before, nf := r.snapshots(), r.nfWrites()
	r.eng.ReadAhead()
	<-r.eng.readAhead.done
	r.nf.Tamper(func(n *model.Netfilter) { n.MasqueradeAll = !n.MasqueradeAll })
	r.full()
	if got := r.snapshots() - before; got != 2 {
		t.Errorf("the restart read the netfilter program %d times, want 2 (the read ahead, then again)", got)
	}
	if r.nfWrites() == nf {
		t.Fatal("the first sync did not repair the netfilter program changed after the read ahead")
	}
	if err := r.nf.Verify(&r.eng.applied.Netfilter); err != nil || !r.eng.nfApplied {
		t.Errorf("after the first sync: applied %v, program %v", r.eng.nfApplied, err)
	}
}
