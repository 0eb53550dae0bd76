package reconcile

import (
	"fmt"
	"testing"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// expectShared asserts that the applied state of every desired virtual
// server is the desired *model.Service itself, not a copy (issue 14: the
// copy was the engine's largest allocation at 10,000 services).
func expectShared(t *testing.T, r *rig, when string) {
	t.Helper()
	want := r.eng.desired.VirtualServers()
	if len(want) == 0 {
		t.Fatalf("%s: nothing desired", when)
	}
	for k, w := range want {
		if got := r.eng.applied.Services[k]; got != w {
			t.Errorf("%s: applied state of %s is a copy of the desired one, want the desired one", when, k)
		}
	}
}

func TestAppliedStateSharesTheDesiredState(t *testing.T) {
	r, names := manyRig(t, 5, 2)
	expectShared(t, r, "after the first full reconcile")

	// An endpoint change: the new desired service is shared once written.
	r.src.put(k8stest.Service("ns", "svc-1", k8stest.ClusterIPs("198.18.0.101")),
		k8stest.Slice("ns", "svc-1", "svc-1-1", []discovery.Endpoint{ep("198.18.10.2"), ep("198.18.11.2"), ep("198.18.12.2")}))
	if res := r.sync(names[1]); res.Writes != 1 {
		t.Fatalf("endpoint change wrote %d times, want 1", res.Writes)
	}
	expectShared(t, r, "after an endpoint change")

	// A restart that finds the kernel as it should be writes nothing and
	// shares what it read.
	r.restart()
	r.resetCounts()
	if res := r.full(); res.Writes != 0 {
		t.Fatalf("restart wrote %d times, want 0", res.Writes)
	}
	expectShared(t, r, "after a restart")
	r.repairCycle()
	expectShared(t, r, "after a repair cycle")
}

// TestSharedAppliedStateIsCopiedBeforeAChange changes the kernel under
// shared virtual servers: the repair records what it read and what it
// wrote in the applied state, which must never reach the desired state
// (a desired service changed in place would hide the drift from every
// later diff).
func TestSharedAppliedStateIsCopiedBeforeAChange(t *testing.T) {
	r, _ := manyRig(t, 4, 2)
	before := make(map[model.VSKey]*model.Service)
	for k, s := range r.eng.desired.VirtualServers() {
		before[k] = s.Clone()
	}
	want := r.ipvs.Dump()
	vs := func(i int) model.VSKey { return key(t, fmt.Sprintf("tcp 198.18.0.%d:80", 100+i)) }
	must(t, r.ipvs.UpdateVirtualServer(model.VirtualServer{VSKey: vs(0), Scheduler: "wlc"}))
	must(t, r.ipvs.DeleteRealServer(vs(1), rsKey("198.18.10.2:8080")))
	must(t, r.ipvs.UpdateRealServer(vs(2), model.RealServer{RSKey: rsKey("198.18.11.3:8080"), Weight: 5}))

	r.repairCycle()
	r.sync()
	if got := r.ipvs.Dump(); got != want {
		t.Errorf("after a repair cycle IPVS is:\n%s\nwant:\n%s", got, want)
	}
	for k, s := range r.eng.desired.VirtualServers() {
		if s.VirtualServer != before[k].VirtualServer || fmt.Sprint(s.Reals) != fmt.Sprint(before[k].Reals) {
			t.Errorf("desired state of %s changed by a repair: %+v, was %+v", k, s, before[k])
		}
	}
	expectShared(t, r, "after the repair")
}
