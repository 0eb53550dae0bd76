package reconcile

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// manyRig is a rig with n services svc-0..svc-n-1 on 198.18.0.100+i:80,
// each with endpoints 198.18.10.(i+1) and 198.18.11.(i+1), fully synced,
// whose periodic repair reads chunk virtual servers per step.
func manyRig(t *testing.T, n, chunk int) (*rig, []types.NamespacedName) {
	r := newRig(t)
	r.chunk = chunk
	r.restart()
	var names []types.NamespacedName
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		svc := k8stest.Service("ns", name, k8stest.ClusterIPs(fmt.Sprintf("198.18.0.%d", 100+i)))
		sl := k8stest.Slice("ns", name, name+"-1", []discovery.Endpoint{
			ep(fmt.Sprintf("198.18.10.%d", i+1)), ep(fmt.Sprintf("198.18.11.%d", i+1)),
		})
		names = append(names, r.src.put(svc, sl))
	}
	r.full()
	return r, names
}

// repairCycle runs Repair until it completes a cycle and returns the
// number of steps it took. It fails on kernel errors.
func (r *rig) repairCycle() int {
	r.t.Helper()
	return r.repairCycleWith(100, nil)
}

// repairStep is one step of a repair cycle as repairCycleWith saw it: its
// number from 1, result, time on the rig's clock and IPVS writes.
type repairStep struct {
	n          int
	res        Result
	took       time.Duration
	ipvsWrites int
}

// repairCycleWith is repairCycle with at most limit steps, handing each
// step to each (nil: none) before the next.
func (r *rig) repairCycleWith(limit int, each func(repairStep)) int {
	r.t.Helper()
	for n := 1; n <= limit; n++ {
		start, before := r.clock.Now(), r.ipvs.Writes()
		res, done := r.eng.Repair(r.ctx, nil)
		if res.Failures > 0 {
			r.t.Fatalf("repair step %d had %d failures: %+v", n, res.Failures, res)
		}
		if each != nil {
			each(repairStep{n: n, res: res, took: r.clock.Since(start), ipvsWrites: r.ipvs.Writes() - before})
		}
		if done {
			return n
		}
	}
	r.t.Fatalf("repair cycle did not end in %d steps", limit)
	return 0
}

func TestRepairOfASmallStateIsOneFull(t *testing.T) {
	r, _ := manyRig(t, 3, 5)
	if got := r.eng.RepairSteps(); got != 1 {
		t.Errorf("RepairSteps = %d, want 1", got)
	}
	r.resetCounts()
	before := r.writes() // netfilter's count is not reset
	if steps := r.repairCycle(); steps != 1 {
		t.Errorf("cycle took %d steps, want 1", steps)
	}
	if l, w := r.ipvs.Calls(ipvs.CallListServices), r.writes()-before; l != 1 || w != 0 {
		t.Errorf("%d ListServices, %d writes; want one ListServices and no writes", l, w)
	}
}

// TestRepairCycleReadsInBoundedSteps checks that a cycle over 7 virtual
// servers with chunks of 3 takes three address steps and three
// virtual-server steps (each compares 14 entries, listed and desired, 6 a
// step) and three chunk steps, that each listing has a step of its own, that no step reads
// more than one chunk of real servers, that the netfilter program is left
// to CheckNetfilter, and that a cycle over an unchanged kernel writes
// nothing.
func TestRepairCycleReadsInBoundedSteps(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	const steps = 9
	if got := r.eng.RepairSteps(); got != steps {
		t.Fatalf("RepairSteps = %d, want %d", got, steps)
	}
	r.resetCounts()
	before := r.writes() // netfilter's count is not reset
	nfVerifies := r.nf.Calls(netfilter.CallSnapshot)
	for step := 1; step <= steps; step++ {
		r.ipvs.ResetCalls()
		lists := r.addr.Calls(addr.CallList)
		res, done := r.eng.Repair(r.ctx, nil)
		if res.Failures != 0 || done != (step == steps) {
			t.Fatalf("step %d: failures %d, done %v", step, res.Failures, done)
		}
		if s, rs := r.ipvs.Calls(ipvs.CallListServices), r.ipvs.Calls(ipvs.CallListRealServers); s != 0 || rs > 3 {
			t.Errorf("step %d read too much: %d ListServices, %d ListRealServers", step, s, rs)
		}
		if got, want := r.addr.Calls(addr.CallList)-lists, map[bool]int{true: 1}[step == 1]; got != want {
			t.Errorf("step %d listed addresses %d times, want %d", step, got, want)
		}
		if got, want := r.ipvs.Calls(ipvs.CallListVirtualServers), map[bool]int{true: 1}[step == 4]; got != want {
			t.Errorf("step %d listed virtual servers %d times, want %d", step, got, want)
		}
	}
	if got := r.nf.Calls(netfilter.CallSnapshot) - nfVerifies; got != 0 {
		t.Errorf("netfilter verified %d times in a cycle, want 0 (CheckNetfilter's job)", got)
	}
	if w := r.writes() - before; w != 0 {
		t.Errorf("a cycle over an unchanged kernel wrote %d times", w)
	}
}

// TestRepairCycleRepairsDrift breaks the kernel in every way Full repairs
// and checks that one cycle restores it: the kernel then equals what it
// was after the first Full.
func TestRepairCycleRepairsDrift(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	want := r.ipvs.Dump()
	wantAddrs := r.addr.Dump()
	vs := func(i int) model.VSKey { return key(t, fmt.Sprintf("tcp 198.18.0.%d:80", 100+i)) }
	must(t, r.ipvs.DeleteRealServer(vs(0), rsKey("198.18.10.1:8080")))                                           // lost destination
	must(t, r.ipvs.UpdateRealServer(vs(3), model.RealServer{RSKey: rsKey("198.18.11.4:8080"), Weight: 7}))       // changed weight
	must(t, r.ipvs.AddRealServer(vs(6), model.RealServer{RSKey: rsKey("198.18.99.1:8080"), Weight: 0}))          // stray destination
	must(t, r.ipvs.DeleteVirtualServer(vs(5)))                                                                   // lost virtual server
	must(t, r.ipvs.UpdateVirtualServer(model.VirtualServer{VSKey: vs(2), Scheduler: "wlc"}))                     // changed scheduler
	must(t, r.ipvs.AddVirtualServer(model.VirtualServer{VSKey: key(t, "udp 198.18.0.100:99"), Scheduler: "rr"})) // stray, on our address
	must(t, r.addr.Unbind(netip.MustParseAddr("198.18.0.104")))                                                  // lost address
	r.nf.Tamper(func(n *model.Netfilter) { n.Ports = n.Ports[:0] })                                              // netfilter drift

	r.repairCycle()
	if !r.checkNetfilter() {
		t.Error("CheckNetfilter found no drift")
	}
	r.sync()
	if got := r.ipvs.Dump(); got != want {
		t.Errorf("after a repair cycle IPVS is:\n%s\nwant:\n%s", got, want)
	}
	if got := r.addr.Dump(); got != wantAddrs {
		t.Errorf("after a repair cycle addresses are:\n%s\nwant:\n%s", got, wantAddrs)
	}
	if err := r.nf.Verify(&r.eng.applied.Netfilter); err != nil {
		t.Errorf("netfilter not repaired: %v", err)
	}
	// The weight-0 stray destination is deleted at once (a dead
	// terminating endpoint), not drained.
	if r.eng.Draining() != 0 {
		t.Errorf("draining %d, want 0", r.eng.Draining())
	}
}

// TestRepairStepAppliesPendingChanges checks that a change arriving during
// a cycle is applied by the next step, whatever part of the kernel the
// step reads.
func TestRepairStepAppliesPendingChanges(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	r.addressStep()
	r.objectStep()
	r.repairStepN(1) // the first chunk step
	r.src.put(k8stest.Service("ns", "svc-6", k8stest.ClusterIPs("198.18.0.106")),
		k8stest.Slice("ns", "svc-6", "svc-6-1", []discovery.Endpoint{ep("198.18.12.7")}))
	r.resetCounts()
	if _, done := r.eng.Repair(r.ctx, names[6:7]); done {
		t.Fatal("cycle ended early")
	}
	r.expectRoute("tcp 198.18.0.106:80", "198.18.12.7:8080")
}

// TestRepairRecreatesAVirtualServerDeletedMidCycle: a virtual server
// deleted behind our back after the object step listed it comes back whole
// when its chunk is read.
func TestRepairRecreatesAVirtualServerDeletedMidCycle(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	want := r.ipvs.Dump()
	r.addressStep()
	r.objectStep()
	must(t, r.ipvs.DeleteVirtualServer(key(t, "tcp 198.18.0.100:80")))
	for {
		if _, done := r.eng.Repair(r.ctx, nil); done {
			break
		}
	}
	if got := r.ipvs.Dump(); got != want {
		t.Errorf("IPVS:\n%s\nwant:\n%s", got, want)
	}
}

func TestFullEndsARepairCycle(t *testing.T) {
	r, _ := manyRig(t, 7, 3)
	r.repairStepN(3)
	r.full()
	if steps := r.repairCycle(); steps != 9 {
		t.Errorf("the cycle after a Full took %d steps, want a whole new cycle of 9", steps)
	}
}

// addressStep runs repair steps until the address step has ended, and
// objectStep until the virtual-server step has; neither may end the cycle.
func (r *rig) addressStep() {
	r.t.Helper()
	r.repairStepN(1)
	for !r.eng.cycle.addressed {
		r.repairStepN(1)
	}
}

func (r *rig) objectStep() {
	r.t.Helper()
	for !r.eng.cycle.listed {
		r.repairStepN(1)
	}
}

// repairStepN runs n repair steps that must not complete the cycle.
func (r *rig) repairStepN(n int) {
	r.t.Helper()
	for range n {
		if res, done := r.eng.Repair(r.ctx, nil); done || res.Failures > 0 {
			r.t.Fatalf("repair step ended the cycle (%v) or failed (%d)", done, res.Failures)
		}
	}
}

// TestRepairStepKeepsTheRetryOfAFailedChange: a change whose write fails in
// a step that itself writes nothing (a chunk step over a matching kernel)
// is still retried.
func TestRepairStepKeepsTheRetryOfAFailedChange(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	r.addressStep()
	r.objectStep() // the next is a chunk step
	r.src.put(k8stest.Service("ns", "svc-1", k8stest.ClusterIPs("198.18.0.101")),
		k8stest.Slice("ns", "svc-1", "svc-1-1", []discovery.Endpoint{ep("198.18.12.2")}))
	r.ipvs.Fail(ipvs.CallApplyBatch, fault.Rule{Err: fmt.Errorf("injected: %w", syscall.ENOBUFS)})
	res, _ := r.eng.Repair(r.ctx, names[1:2])
	if res.Failures == 0 || res.RetryAfter == 0 {
		t.Fatalf("step result %+v: want a failure and a retry delay", res)
	}
	r.ipvs.ClearFaults()
	r.advance(res.RetryAfter)
	if res := r.sync(); res.Failures != 0 {
		t.Fatalf("retry failed: %+v", res)
	}
	r.expectRoute("tcp 198.18.0.101:80", "198.18.12.2:8080")
}

// TestRepairComparesInSlicesWhileChangesApply: changes applied between the
// virtual-server step's slices (one service added, one deleted that the
// comparison had passed, one it had not reached) are neither undone nor
// taken for drift (the rest of the cycle writes nothing), and the cycle ends
// with the kernel as desired.
func TestRepairComparesInSlicesWhileChangesApply(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	r.addressStep()
	r.repairStepN(1) // the listing and its first 6 entries
	added := r.src.put(k8stest.Service("ns", "late", k8stest.ClusterIPs("198.18.0.200")),
		k8stest.Slice("ns", "late", "late-1", []discovery.Endpoint{ep("198.18.12.1")}))
	r.src.remove(names[0]) // compared already
	r.src.remove(names[6]) // listed last: not compared yet
	if res, _ := r.eng.Repair(r.ctx, []types.NamespacedName{added, names[0], names[6]}); res.Failures != 0 {
		t.Fatalf("step with changes: %+v", res)
	}
	r.resetCounts()
	r.repairCycle()
	if w := r.ipvs.Writes() + r.addr.Writes(); w != 0 {
		t.Errorf("the rest of the cycle wrote %d times over a kernel with no drift: it took the changes for drift", w)
	}
	r.expectRoute("tcp 198.18.0.200:80", "198.18.12.1:8080")
	for _, gone := range []string{"tcp 198.18.0.100:80", "tcp 198.18.0.106:80"} {
		if _, ok := r.kernel().Services[key(t, gone)]; ok {
			t.Errorf("%s deleted by a change is back after the cycle", gone)
		}
	}
	r.resetCounts()
	before := r.writes()
	if r.full(); r.writes() != before {
		t.Errorf("a Full after the cycle wrote %d times: the cycle left the kernel unlike the desired state", r.writes()-before)
	}
}
