package reconcile

import (
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestRepairNowPutsAFlushedTableBackInSteps: after someone flushed the
// IPVS table, RepairNow starts a cycle the runner runs back to back
// (CatchingUp) instead of one Full: no step writes more than a slice of
// the table, a change between steps is applied at once, and when the
// cycle ends the kernel holds every virtual and real server again.
func TestRepairNowPutsAFlushedTableBackInSteps(t *testing.T) {
	r, _ := manyRig(t, 20, 4)
	want := r.ipvs.Dump()
	for _, s := range r.ipvs.Services() {
		if err := r.ipvs.DeleteVirtualServer(s.VSKey); err != nil {
			t.Fatal(err)
		}
	}
	if !r.eng.RepairNow() || !r.eng.CatchingUp() {
		t.Fatalf("RepairNow over 20 virtual servers in chunks of 4: catching up %v, want a cycle", r.eng.CatchingUp())
	}
	// A check during the cycle finds the drift it has not reached yet:
	// the cycle goes on instead of starting over.
	cycle := r.eng.cycle
	if !r.eng.RepairNow() || r.eng.cycle != cycle {
		t.Fatal("a second RepairNow started the cycle over")
	}
	// One step writes at most stepOps operations, and the virtual server
	// (with its 2 real servers) that reached the bound.
	maxWrites := r.eng.stepOps() + 2
	r.repairCycleWith(100, func(s repairStep) {
		if s.ipvsWrites > maxWrites {
			t.Errorf("step %d wrote %d times, want at most %d", s.n, s.ipvsWrites, maxWrites)
		}
		if s.n == 2 {
			name := "between-steps"
			n := r.src.put(k8stest.Service("ns", name, k8stest.ClusterIPs("198.18.0.250")),
				k8stest.Slice("ns", name, name+"-1", []discovery.Endpoint{ep("198.18.13.1")}))
			r.sync(n)
			r.expectRoute("tcp 198.18.0.250:80", "198.18.13.1:8080")
		}
	})
	if r.eng.CatchingUp() {
		t.Error("still catching up after the cycle ended")
	}
	for _, s := range r.ipvs.Services() {
		if s.Addr.String() == "198.18.0.250" {
			continue
		}
		if len(s.Reals) != 2 {
			t.Errorf("%v has %d real servers after the repair, want 2", s.VSKey, len(s.Reals))
		}
	}
	if got := len(r.ipvs.Services()); got != 21 {
		t.Errorf("%d virtual servers after the repair, want 21\nbefore the flush:\n%s", got, want)
	}
}

// TestRepairNowOfASmallTableIsAFull: at one chunk of virtual servers or
// fewer the repair is one Full, which RepairNow leaves to the caller.
func TestRepairNowOfASmallTableIsAFull(t *testing.T) {
	r, _ := manyRig(t, 3, 5)
	if r.eng.RepairNow() || r.eng.CatchingUp() {
		t.Errorf("RepairNow over 3 virtual servers started a cycle (catching up %v)", r.eng.CatchingUp())
	}
}

// slowIPVS is the fake kernel with destination adds costing up to perOp
// on the rig's clock, as right after a flush (the kernel's destination
// trash: compare.go, stepWriteTime): the first batch of them and every
// other one after it perOp a write, the others a hundredth of it (a re-add
// finds its destination early in the trash, or late). Other writes cost a
// hundredth.
type slowIPVS struct {
	*ipvs.Fake
	clock   *clocktesting.FakeClock
	perOp   time.Duration
	batches int
}

func (s *slowIPVS) ApplyBatch(ops []model.Op) []error {
	cost := s.perOp / 100
	if len(ops) > 0 && ops[0].Kind == model.OpAddRealServer {
		if s.batches%2 == 0 {
			cost = s.perOp
		}
		s.batches++
	}
	s.clock.Step(time.Duration(len(ops)) * cost)
	return s.Fake.ApplyBatch(ops)
}

// TestRepairStepsAreBoundedInTimeWhenWritesAreSlow: with writes costing
// up to 90 ms (a flush of 1,000,000 destinations in the test VM), no step
// of the repair cycle writes for much more than stepWriteTime, though a
// batch's cost says little about the next one's, and the cycle still puts
// everything back.
func TestRepairStepsAreBoundedInTimeWhenWritesAreSlow(t *testing.T) {
	// Chunks of 20 make a step's operation bound (stepOps, 40) take 3.6 s.
	r, _ := manyRig(t, 60, 20)
	const perOp = 90 * time.Millisecond
	r.eng.cfg.IPVS = &slowIPVS{Fake: r.ipvs, clock: r.clock, perOp: perOp}
	for _, s := range r.ipvs.Services() {
		if err := r.ipvs.DeleteVirtualServer(s.VSKey); err != nil {
			t.Fatal(err)
		}
	}
	if !r.eng.RepairNow() {
		t.Fatal("RepairNow over 60 virtual servers in chunks of 20: no cycle")
	}
	// A step may overrun by the batch that crosses the bound: half the
	// bound at the highest cost measured, plus the last virtual server's
	// three writes (the first batch, of firstWriteBatch writes before any
	// measurement, ends within that too). Batches sized on the last cost
	// instead make steps of 2 s here.
	longest := stepWriteTime*3/2 + 3*perOp
	r.repairCycleWith(1000, func(s repairStep) {
		if s.took > longest {
			t.Errorf("step %d wrote %d operations for %v, want at most %v", s.n, s.res.Writes, s.took, longest)
		}
	})
	if got := len(r.ipvs.Services()); got != 60 {
		t.Errorf("%d virtual servers after the repair, want 60", got)
	}
	for _, s := range r.ipvs.Services() {
		if len(s.Reals) != 2 {
			t.Errorf("%v has %d real servers after the repair, want 2", s.VSKey, len(s.Reals))
		}
	}
}
