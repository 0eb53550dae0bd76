package reconcile

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
)

// slowAddrLister lists the fake's addresses when asked, then holds the
// answer until released.
type slowAddrLister struct {
	addr    *addr.Fake
	started chan struct{}
	release chan struct{}
}

func (l *slowAddrLister) List() ([]netip.Addr, error) {
	addrs, err := l.addr.List()
	close(l.started)
	<-l.release
	return addrs, err
}

// lateAndGone adds service ns/late (198.18.0.200) and deletes svc-6
// (198.18.0.106) in one sync.
func (r *rig) lateAndGone(names []types.NamespacedName) {
	r.t.Helper()
	added := r.src.put(k8stest.Service("ns", "late", k8stest.ClusterIPs("198.18.0.200")),
		k8stest.Slice("ns", "late", "late-1", []discovery.Endpoint{ep("198.18.12.1")}))
	r.src.remove(names[6])
	if res := r.sync(added, names[6]); res.Failures != 0 || res.Writes == 0 {
		r.t.Fatalf("changes: %+v", res)
	}
}

// expectAddrsAfterLateAndGone runs the rest of the cycle, which must write
// nothing (the changes are not drift), and checks the addresses bound.
func (r *rig) expectAddrsAfterLateAndGone() {
	r.t.Helper()
	r.resetCounts()
	r.repairCycle()
	if w := r.addr.Writes() + r.ipvs.Writes(); w != 0 {
		r.t.Errorf("the rest of the cycle wrote %d times over a kernel with no drift: it took the changes for drift", w)
	}
	d := r.addr.Dump()
	if !strings.Contains(d, "198.18.0.200") || strings.Contains(d, "198.18.0.106") || !strings.Contains(d, "198.18.0.105") {
		r.t.Errorf("addresses after the cycle (198.18.0.200 bound, .106 not, .105 still):\n%s", d)
	}
}

// TestAddressStepComparesInSlicesWhileChangesApply: the address step
// compares its listing a slice a step; an address bound (a new service) and
// one unbound (a deleted service the comparison had not reached) between
// two slices are neither undone nor taken for drift.
func TestAddressStepComparesInSlicesWhileChangesApply(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	r.repairStepN(1) // the listing and its first 6 addresses
	if r.eng.cycle.addressed {
		t.Fatal("the address step compared 14 entries in one step; want 6 a step")
	}
	r.lateAndGone(names)
	r.expectAddrsAfterLateAndGone()
}

// TestAddressStepListsOffTheSyncGoroutine: with an AddressLister, the
// address step does not wait for the listing, changes are applied while it
// runs, and its comparison does not undo them.
func TestAddressStepListsOffTheSyncGoroutine(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	l := &slowAddrLister{addr: r.addr, started: make(chan struct{}), release: make(chan struct{})}
	r.eng.cfg.AddressLister = l
	lists := r.addr.Calls(addr.CallList)
	r.repairStepN(1) // starts the listing; returns while it is held
	<-l.started
	r.lateAndGone(names)
	r.repairStepN(1) // the listing has not finished: nothing collected
	if r.eng.cycle.addrs.listed != nil {
		t.Fatal("a step collected a listing that had not finished")
	}
	close(l.release)
	for len(r.eng.cycle.addrs.listing.done) == 0 { // the listing's goroutine answering
		time.Sleep(time.Millisecond)
	}
	if got := r.addr.Calls(addr.CallList) - lists; got != 1 {
		t.Errorf("addresses listed %d times, want once, by the lister", got)
	}
	r.expectAddrsAfterLateAndGone()
}

// TestAddressListingOffTheSyncGoroutineRetriesQuietly: a listing off the
// sync goroutine that fails (a route dump our own binds interrupted) is
// listed again at the next step, without a failed kernel read and the Full
// that retries one; only failures in a row past addrListFailures count as
// one.
func TestAddressListingOffTheSyncGoroutineRetriesQuietly(t *testing.T) {
	for _, tc := range []struct {
		fails        int
		wantFailures bool
	}{{fails: addrListFailures - 1}, {fails: addrListFailures, wantFailures: true}} {
		r, _ := manyRig(t, 7, 3)
		r.eng.cfg.AddressLister = r.addr
		r.addr.Fail(addr.CallList, fault.Rule{Err: errKernel, Times: tc.fails})
		r.resetCounts()
		failures := 0
		for steps := 0; ; steps++ {
			res, done := r.eng.Repair(r.ctx, nil)
			failures += res.Failures
			if done || failures > 0 {
				break
			}
			if steps > 5000 {
				t.Fatal("the cycle did not end")
			}
			time.Sleep(time.Millisecond) // the listing runs off this goroutine
		}
		if got := failures > 0; got != tc.wantFailures {
			t.Errorf("%d failed listings in a row: failures reported %v, want %v", tc.fails, got, tc.wantFailures)
		}
		if n := r.ipvs.Calls(ipvs.CallListServices); n != 0 {
			t.Errorf("%d failed listings in a row: %d Fulls ran", tc.fails, n)
		}
	}
}
