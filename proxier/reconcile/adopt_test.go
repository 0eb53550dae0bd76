package reconcile

import (
	"fmt"
	"net/netip"
	"testing"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ipvsReads counts the IPVS reads since the last resetCounts.
func (r *rig) ipvsReads() map[ipvs.Call]int {
	out := map[ipvs.Call]int{}
	for _, c := range []ipvs.Call{ipvs.CallListServices, ipvs.CallListVirtualServers, ipvs.CallListRealServers, ipvs.CallGetService} {
		if n := r.ipvs.Calls(c); n > 0 {
			out[c] = n
		}
	}
	return out
}

// TestRestartAtScaleAssumesTheRecordAndVerifiesIt: above one repair chunk
// of virtual servers, a restart over the kernel it left reads no IPVS state
// before its first sync ends, and writes nothing; the first repair cycle,
// an adopting one the runner runs back to back, then lists the virtual
// servers once and reads every one's real servers once, and writes nothing
// either.
func TestRestartAtScaleAssumesTheRecordAndVerifiesIt(t *testing.T) {
	r, _ := manyRig(t, 10, 4)
	r.restart()
	r.resetCounts()
	nf := r.nfWrites()
	if res := r.full(); res.Writes != 0 || r.writes() != nf {
		t.Errorf("the first sync wrote %d times (kernel %d)", res.Writes, r.writes()-nf)
	}
	if reads := r.ipvsReads(); len(reads) != 0 {
		t.Errorf("the first sync read IPVS: %v", reads)
	}
	if !r.eng.Adopting() || !r.eng.Healthy() {
		t.Fatalf("after the first sync: adopting %v, healthy %v; want both", r.eng.Adopting(), r.eng.Healthy())
	}
	r.repairCycle()
	if r.eng.Adopting() || r.eng.recorded != nil || len(r.eng.assumed) != 0 {
		t.Errorf("after the adopting cycle: adopting %v, record %v, assumed %v", r.eng.Adopting(), r.eng.recorded, r.eng.assumed)
	}
	if r.writes() != nf {
		t.Errorf("the adopting cycle wrote %d times", r.writes()-nf)
	}
	want := map[ipvs.Call]int{ipvs.CallListVirtualServers: 1, ipvs.CallListRealServers: 10}
	if got := r.ipvsReads(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the adopting cycle read %v, want %v", got, want)
	}
}

// TestAssumedAdoptionRepairsWhatChangedWhileDown: what changed while the
// proxy was down is repaired by the end of the adopting cycle, as a Full
// that read everything first would have: a service created meanwhile is
// written by the first sync; a deleted service's virtual server is
// deleted; a weight-0 real server whose endpoint went away drains (the
// adoption's policy: it may have been draining before the restart, where a
// repair would delete it at once) and then goes; a real server deleted by
// hand comes back.
func TestAssumedAdoptionRepairsWhatChangedWhileDown(t *testing.T) {
	r, names := manyRig(t, 10, 4)
	svc := func(i int) types.NamespacedName { return names[i] }
	name0 := svc(0).Name
	svc0 := func(eps ...discovery.Endpoint) {
		r.src.put(k8stest.Service("ns", name0, k8stest.ClusterIPs("198.18.0.100")), k8stest.Slice("ns", name0, name0+"-1", eps))
	}
	// Before the restart, svc-0's 198.18.11.1 is terminating: weight 0.
	svc0(ep("198.18.10.1"), ep("198.18.11.1", terminating(true)))
	r.sync(svc(0))
	// While down: its pod goes away, svc-1 is deleted, svc-10 is created,
	// and someone deletes a real server of svc-2.
	svc0(ep("198.18.10.1"))
	r.src.remove(svc(1))
	r.src.put(k8stest.Service("ns", "svc-10", k8stest.ClusterIPs("198.18.0.110")),
		k8stest.Slice("ns", "svc-10", "svc-10-1", []discovery.Endpoint{ep("198.18.10.11")}))
	must(t, r.ipvs.DeleteRealServer(key(t, "tcp 198.18.0.102:80"), rsKey("198.18.11.3:8080")))

	r.restart()
	r.resetCounts()
	r.full()
	if _, ok := r.kernel().Services[key(t, "tcp 198.18.0.110:80")]; !ok {
		t.Errorf("the service created while down was not written by the first sync")
	}
	r.repairCycle()
	st := r.kernel()
	if _, ok := st.Services[key(t, "tcp 198.18.0.101:80")]; ok {
		t.Errorf("the deleted service's virtual server is still there")
	}
	r.expectRoute("tcp 198.18.0.102:80", "198.18.10.3:8080", "198.18.11.3:8080")
	r.expectRoute("tcp 198.18.0.100:80", "198.18.10.1:8080")
	if rs, ok := st.Services[key(t, "tcp 198.18.0.100:80")].Real(rsKey("198.18.11.1:8080")); !ok || rs.Weight != 0 || r.eng.Draining() != 1 {
		t.Errorf("the endpoint gone while down: %+v, %v, draining %d; want it draining at weight 0", rs, ok, r.eng.Draining())
	}
	r.advance(DefaultDrainTimeout)
	r.eng.PollDrains(r.ctx)
	if _, ok := r.kernel().Services[key(t, "tcp 198.18.0.100:80")].Real(rsKey("198.18.11.1:8080")); ok {
		t.Errorf("the drained endpoint was not deleted after the drain timeout")
	}
}

// TestAssumedVirtualServerWrittenDuringItsListingIsReadWhole: a recorded
// virtual server that is not in the kernel (its add failed before the
// restart) and that a change writes while the adopting cycle lists the
// kernel is read whole (GetService), since neither the listing nor a real
// server dump can tell whether it exists: it ends up in the kernel with
// its real servers.
func TestAssumedVirtualServerWrittenDuringItsListingIsReadWhole(t *testing.T) {
	r, names := manyRig(t, 10, 4)
	vs := key(t, "tcp 198.18.0.103:80")
	must(t, r.ipvs.DeleteVirtualServer(vs))
	r.restart()
	r.full()
	// The change arrives while the virtual-server listing is compared
	// (here: after the listing, before the comparison's second pass).
	r.eng.cycle.addressed = true
	for r.eng.cycle.compare == nil {
		r.eng.Repair(r.ctx, nil)
	}
	name := names[3].Name
	r.src.put(k8stest.Service("ns", name, k8stest.ClusterIPs("198.18.0.103")),
		k8stest.Slice("ns", name, name+"-1", []discovery.Endpoint{ep("198.18.10.4"), ep("198.18.11.4"), ep("198.18.12.4")}))
	r.resetCounts()
	r.sync(names[3])
	r.repairCycle()
	if r.ipvs.Calls(ipvs.CallGetService) == 0 {
		t.Errorf("the assumed virtual server written during the listing was not read whole")
	}
	r.expectRoute("tcp 198.18.0.103:80", "198.18.10.4:8080", "198.18.11.4:8080", "198.18.12.4:8080")
	if _, assumed := r.eng.assumed[vs]; assumed {
		t.Errorf("still assumed after the adopting cycle")
	}
}

// TestSmallRestartReadsEverythingFirst: at or below one repair chunk the
// first sync reads the kernel whole, as before: no adopting cycle.
func TestSmallRestartReadsEverythingFirst(t *testing.T) {
	r, _ := manyRig(t, 4, 4)
	r.restart()
	r.resetCounts()
	r.full()
	if r.eng.Adopting() || r.ipvs.Calls(ipvs.CallListServices) != 1 {
		t.Errorf("adopting %v after %d full listings; want a Full that read everything", r.eng.Adopting(), r.ipvs.Calls(ipvs.CallListServices))
	}
}

// TestRecordCoversNodePorts: node-port virtual servers a previous run
// programmed count as recorded on every node-port address, so a restart
// assumes them instead of writing them again.
func TestRecordCoversNodePorts(t *testing.T) {
	rec := &record{nodePorts: map[model.NodePort]bool{{Proto: model.TCP, Port: 30080}: true}}
	nodeIPs := []netip.Addr{netip.MustParseAddr("198.18.1.1")}
	for _, c := range []struct {
		vs   string
		want bool
	}{
		{"tcp 198.18.1.1:30080", true},
		{"tcp 198.18.1.2:30080", false}, // not a node-port address
		{"tcp 198.18.1.1:30081", false},
	} {
		if got := rec.has(key(t, c.vs), nodeIPs); got != c.want {
			t.Errorf("has(%s) = %v, want %v", c.vs, got, c.want)
		}
	}
	if (*record)(nil).has(key(t, "tcp 198.18.1.1:30080"), nodeIPs) || !(*record)(nil).empty() {
		t.Error("a nil record holds something")
	}
}
