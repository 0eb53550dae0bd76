package reconcile

import (
	"strings"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// slowLister lists the fake's virtual servers when asked, then holds the
// answer until released: the kernel's dump as a slow listing sees it,
// before the writes made while it runs.
type slowLister struct {
	ipvs    *ipvs.Fake
	started chan struct{}
	release chan struct{}
}

func (l *slowLister) ListRealServers(k model.VSKey) ([]model.RealServer, error) {
	return l.ipvs.ListRealServers(k)
}

func (l *slowLister) ListVirtualServers() ([]model.VirtualServer, error) {
	vss, err := l.ipvs.ListVirtualServers()
	close(l.started)
	<-l.release
	return vss, err
}

// TestRepairListsVirtualServersOffTheSyncGoroutine: with an IPVSLister the
// virtual-server step does not wait for the listing (nor the chunk steps for
// their reads); changes are applied
// while it runs (a service deleted, another added), and when it is
// collected, what it saw of the virtual servers written meanwhile is not
// taken for drift: no failed read of the deleted one, no second add of the
// new one, and the cycle ends with the kernel as desired.
func TestRepairListsVirtualServersOffTheSyncGoroutine(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	l := &slowLister{ipvs: r.ipvs, started: make(chan struct{}), release: make(chan struct{})}
	r.eng.cfg.IPVSLister = l
	want := r.ipvs.Dump()

	r.addressStep()
	if res, done := r.eng.Repair(r.ctx, nil); done || res.Failures != 0 {
		t.Fatalf("virtual-server step started: done %v, %d failures", done, res.Failures)
	}
	<-l.started
	if got := r.ipvs.Calls(ipvs.CallListVirtualServers); got != 1 {
		t.Fatalf("%d listings, want 1", got)
	}
	// While it runs: one service goes, another comes.
	r.src.remove(names[0])
	added := r.src.put(k8stest.Service("ns", "late", k8stest.ClusterIPs("198.18.0.200")),
		k8stest.Slice("ns", "late", "late-1", []discovery.Endpoint{ep("198.18.12.1")}))
	if res := r.sync(names[0], added); res.Failures != 0 || res.Writes == 0 {
		t.Fatalf("changes during the listing: %+v", res)
	}
	if _, done := r.eng.Repair(r.ctx, nil); done || r.eng.cycle.listed {
		t.Fatal("a step collected a listing that had not finished")
	}
	close(l.release)
	for len(r.eng.cycle.listing.done) == 0 { // the listing's goroutine answering
		time.Sleep(time.Millisecond)
	}
	r.resetCounts()
	before := r.writes()
	for steps := 0; ; steps++ {
		res, done := r.eng.Repair(r.ctx, nil)
		if res.Failures != 0 {
			t.Fatalf("step after the listing: %d failures", res.Failures)
		}
		if done {
			break
		}
		if steps > 5000 {
			t.Fatal("the cycle did not end")
		}
		time.Sleep(time.Millisecond) // the chunks are read off this goroutine
	}
	if w := r.writes() - before; w != 0 {
		t.Errorf("collecting a listing older than the changes wrote %d times", w)
	}
	if got := r.ipvs.Calls(ipvs.CallListRealServers); got != 7 {
		t.Errorf("%d virtual servers' real servers read, want 7 (6 old and the new one)", got)
	}
	if d := r.ipvs.Dump(); !strings.Contains(d, "198.18.0.200:80") || strings.Contains(d, "198.18.0.100:80") || d == want {
		t.Errorf("kernel after the cycle (the new service's virtual server in, the deleted one's out):\n%s", d)
	}
}

// holdingLister reads real servers from the fake at once but holds the
// answer for one virtual server until released.
type holdingLister struct {
	*ipvs.Fake
	hold    model.VSKey
	started chan struct{}
	release chan struct{}
}

func (l *holdingLister) ListRealServers(k model.VSKey) ([]model.RealServer, error) {
	reals, err := l.Fake.ListRealServers(k)
	if k == l.hold {
		close(l.started)
		<-l.release
	}
	return reals, err
}

// TestRepairChunkReadOffTheSyncGoroutine: a chunk's real servers are read
// off the sync goroutine; a virtual server whose real servers change while
// the read is held is not repaired from the stale read (nothing written back,
// the new endpoint stays), and the cycle ends.
func TestRepairChunkReadOffTheSyncGoroutine(t *testing.T) {
	r, names := manyRig(t, 7, 3)
	held := key(t, "tcp 198.18.0.104:80") // svc-4, in a later chunk
	l := &holdingLister{Fake: r.ipvs, hold: held, started: make(chan struct{}), release: make(chan struct{})}
	r.eng.cfg.IPVSLister = l
	synced := false
	before := r.writes()
	for steps := 0; ; steps++ {
		select {
		case <-l.started:
			if !synced {
				// The read of svc-4's real servers has happened and is held:
				// svc-4 now changes, then the stale read is let go.
				r.src.put(k8stest.Service("ns", "svc-4", k8stest.ClusterIPs("198.18.0.104")),
					k8stest.Slice("ns", "svc-4", "svc-4-1", []discovery.Endpoint{ep("198.18.10.5"), ep("198.18.11.5"), ep("198.18.12.5")}))
				if res := r.sync(names[4]); res.Failures != 0 || res.Writes != 1 {
					t.Fatalf("the change: %+v", res)
				}
				synced, before = true, r.writes()
				close(l.release)
			}
		default:
		}
		res, done := r.eng.Repair(r.ctx, nil)
		if res.Failures != 0 {
			t.Fatalf("step %d: %d failures", steps, res.Failures)
		}
		if done {
			break
		}
		if steps > 5000 {
			t.Fatal("the cycle did not end")
		}
		time.Sleep(time.Millisecond)
	}
	if !synced {
		t.Fatal("the held read never ran")
	}
	if w := r.writes() - before; w != 0 {
		t.Errorf("the cycle wrote %d times after the change: a stale read was repaired from", w)
	}
	if d := r.ipvs.Dump(); !strings.Contains(d, "198.18.12.5") {
		t.Errorf("the new endpoint is gone from the kernel:\n%s", d)
	}
}
