package reconcile

import (
	"fmt"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// checkNetfilter runs CheckNetfilter as the daemon's ticks do: once to
// start a read-back, and, if one started, again once it finished to
// collect it. It reports whether drift was found.
func (r *rig) checkNetfilter() bool {
	r.t.Helper()
	if r.eng.CheckNetfilter(r.ctx) {
		return true
	}
	if !r.eng.CheckingNetfilter() {
		return false
	}
	r.eng.waitNetfilterCheck()
	return r.eng.CheckNetfilter(r.ctx)
}

// TestCheckNetfilterRepairsDrift: someone else's commit makes the next
// check read the program back; drift it finds is repaired by the next
// sync, without a repair cycle.
func TestCheckNetfilterRepairsDrift(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	r.nf.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[:1] })
	if !r.checkNetfilter() {
		t.Fatal("CheckNetfilter found no drift after a foreign commit")
	}
	applies, repairs := r.nf.Calls(netfilter.CallApply), r.nf.Calls(netfilter.CallRepair)
	r.sync()
	if a, rp := r.nf.Calls(netfilter.CallApply)-applies, r.nf.Calls(netfilter.CallRepair)-repairs; a != 0 || rp != 1 {
		t.Errorf("the sync after the drift applied the program %d times and repaired it from the read-back %d times, want 0 and 1", a, rp)
	}
	if err := r.nf.Verify(&r.eng.applied.Netfilter); err != nil {
		t.Errorf("netfilter not repaired: %v", err)
	}
	if r.checkNetfilter() {
		t.Error("CheckNetfilter found drift again after the repair")
	}
}

// TestCheckNetfilterDiscardsAReadBackThatOverlappedAWrite: the read-back
// runs off the sync goroutine; one that saw drift while the engine itself
// wrote the program may have read half a transaction, so it must not cause
// a whole reapply.
func TestCheckNetfilterDiscardsAReadBackThatOverlappedAWrite(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	r.nf.Tamper(func(*model.Netfilter) {}) // a foreign commit: the next check reads back
	r.nf.Fail(netfilter.CallSnapshot, fault.Rule{Err: fmt.Errorf("read half a transaction: %w", netfilter.ErrDrift), Times: 1})
	if r.eng.CheckNetfilter(r.ctx) || !r.eng.CheckingNetfilter() {
		t.Fatal("no read-back started after a foreign commit")
	}
	replaces := func() int { return r.nf.Calls(netfilter.CallApply) + r.nf.Calls(netfilter.CallRepair) }
	applies, updates := replaces(), r.nf.Calls(netfilter.CallUpdate)
	extra := r.src.put(k8stest.Service("ns", "extra", k8stest.ClusterIPs("198.18.0.200")),
		k8stest.Slice("ns", "extra", "extra-1", []discovery.Endpoint{ep("198.18.12.1")}))
	if res := r.eng.Sync(r.ctx, []types.NamespacedName{extra}); res.Failures > 0 {
		t.Fatalf("sync failed: %+v", res)
	}
	r.eng.waitNetfilterCheck()
	if r.eng.CheckNetfilter(r.ctx) {
		t.Error("a read-back that overlapped our own write reported drift")
	}
	r.sync()
	if got := r.nf.Calls(netfilter.CallUpdate) - updates; got != 1 {
		t.Errorf("netfilter updates = %d, want 1 (the new service)", got)
	}
	if got := replaces() - applies; got != 0 {
		t.Errorf("netfilter reapplied %d times after a read-back that overlapped our own write", got)
	}
}

// TestCheckNetfilterSkipsReadBackWhenNothingWasCommitted: reading back a
// large program costs seconds, so a check skips it while the nf_tables
// generation shows no transaction since the last clean read-back, reads it
// after anyone's commit, and at least once per netfilterReadBackMax.
func TestCheckNetfilterSkipsReadBackWhenNothingWasCommitted(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	verifies := func() int { return r.nf.Calls(netfilter.CallSnapshot) }
	r.checkNetfilter() // the first check reads back: nothing verified yet
	v := verifies()
	for range 5 {
		r.advance(time.Minute)
		if r.checkNetfilter() {
			t.Fatal("drift found in a quiet kernel")
		}
	}
	if got := verifies() - v; got != 0 {
		t.Errorf("read back %d times in 5 quiet checks, want 0", got)
	}
	r.nf.Tamper(func(*model.Netfilter) {}) // someone's commit that changes nothing of ours
	v = verifies()
	if r.checkNetfilter() {
		t.Error("drift found after a commit that left our program alone")
	}
	if got := verifies() - v; got != 1 {
		t.Errorf("read back %d times after a foreign commit, want 1", got)
	}
	r.advance(netfilterReadBackMax)
	v = verifies()
	r.checkNetfilter()
	if got := verifies() - v; got != 1 {
		t.Errorf("read back %d times after %v without one, want 1", got, netfilterReadBackMax)
	}
}

// waitNetfilterCheck waits until a read-back started by CheckNetfilter has
// finished, without taking its result. Tests call it to be deterministic.
func (e *Engine) waitNetfilterCheck() {
	if c := e.nfCheck; c != nil {
		err := <-c.done
		c.done <- err
	}
}

// TestCheckNetfilterTrustsOurOwnWrites: a change we write moves the
// nf_tables generation by one, and the next check does not read the whole
// program back for it; a foreign commit before our write still makes the
// check read back, and the drift it left is repaired.
func TestCheckNetfilterTrustsOurOwnWrites(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	reads := func() int { return r.nf.Calls(netfilter.CallSnapshot) }
	r.checkNetfilter() // the first check reads back: nothing verified yet
	add := func(i int) {
		name := fmt.Sprintf("new-%d", i)
		r.sync(r.src.put(k8stest.Service("ns", name, k8stest.ClusterIPs(fmt.Sprintf("198.18.0.%d", 200+i))),
			k8stest.Slice("ns", name, name+"-1", []discovery.Endpoint{ep(fmt.Sprintf("198.18.12.%d", i+1))})))
	}
	writes, v := r.nfWrites(), reads()
	add(1)
	add(2)
	if r.nfWrites()-writes != 2 {
		t.Fatalf("two new services made %d netfilter writes, want 2", r.nfWrites()-writes)
	}
	if r.checkNetfilter() || reads() != v {
		t.Errorf("after two writes of ours: read back %d times, want 0", reads()-v)
	}
	r.nf.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[:1] })
	add(3)
	if !r.checkNetfilter() || reads() != v+1 {
		t.Fatalf("a foreign commit before our write: read back %d times, want 1, and drift", reads()-v)
	}
	r.sync()
	if err := r.nf.Verify(&r.eng.applied.Netfilter); err != nil {
		t.Errorf("netfilter not repaired: %v", err)
	}
}

// TestNetfilterCheckedCallsBackWhenTheReadBackEnds: the read-back's
// goroutine tells the caller it has finished (the daemon then runs a check
// at once), so drift it found waits for no further period.
func TestNetfilterCheckedCallsBackWhenTheReadBackEnds(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	done := make(chan struct{}, 1)
	r.eng.cfg.NetfilterChecked = func() { done <- struct{}{} }
	r.nf.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[:1] })
	if r.eng.CheckNetfilter(r.ctx) || !r.eng.CheckingNetfilter() {
		t.Fatal("the check after a foreign commit started no read-back")
	}
	select {
	case <-done:
	case <-time.After(time.Minute): // a hang guard, not a timing
		t.Fatal("the read-back never called back")
	}
	if !r.eng.CheckNetfilter(r.ctx) {
		t.Error("the check after the callback did not report the drift the read-back found")
	}
}
