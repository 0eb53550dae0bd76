package reconcile

import (
	"sync/atomic"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// restartedWithHostAddress is hostAddressRig restarted with an IPVSLister
// on the same fake kernel.
func restartedWithHostAddress(t *testing.T) (*rig, *model.Service, *countingLister) {
	r, foreign := hostAddressRig(t)
	r.restart()
	l := &countingLister{Fake: r.ipvs}
	r.eng.cfg.IPVSLister = l
	r.resetCounts()
	return r, foreign, l
}

// countingLister is an IPVSLister on the rig's kernel that counts its
// listings.
type countingLister struct {
	*ipvs.Fake
	listings atomic.Int32
}

func (l *countingLister) ListServices() ([]*model.Service, error) {
	l.listings.Add(1)
	return l.Fake.ListServices()
}

// TestPrefetchedReadIsAdopted: after Prefetch, the first Full adopts what
// the prefetch read (virtual servers, addresses and the netfilter record
// of host-address virtual servers) without reading again, and writes
// nothing to an unchanged kernel.
func TestPrefetchedReadIsAdopted(t *testing.T) {
	r, foreign, l := restartedWithHostAddress(t)
	records, nfWrites := r.nf.Calls(netfilter.CallServicePorts), r.nfWrites()
	r.eng.Prefetch()
	res := r.eng.Full(r.ctx, nil, false)
	if n, prefetched := r.ipvs.Calls(ipvs.CallListServices), l.listings.Load(); n != 1 || prefetched != 1 {
		t.Errorf("%d IPVS listings, %d of them by the lister: want only the prefetch's", n, prefetched)
	}
	if n := r.nf.Calls(netfilter.CallServicePorts) - records; n != 1 {
		t.Errorf("%d reads of the netfilter record: want only the prefetch's", n)
	}
	if w := r.writes() - nfWrites; res.Writes != 0 || w != 0 {
		t.Errorf("restart wrote %d (kernel %d): want the prefetched state adopted as is", res.Writes, w)
	}
	if got := r.eng.FailedObjects(); got[ReasonForeign] != 1 || len(got) != 1 {
		t.Errorf("failed %v: want only the keepalived-style virtual server foreign", got)
	}
	r.expectRoute("tcp 198.18.1.1:80", "198.18.10.1:8080")
	if !sameService(r.kernel().Services[foreign.VSKey], foreign) {
		t.Errorf("foreign virtual server changed: %v", r.kernel().IPVSLines())
	}
	// Only the first Full uses a prefetch: later ones read for themselves.
	r.resetCounts()
	r.eng.Prefetch()
	r.eng.Full(r.ctx, nil, false)
	if n := r.ipvs.Calls(ipvs.CallListServices); n != 1 {
		t.Errorf("%d IPVS listings after a second Full: want it to read the kernel", n)
	}
}

// TestFailedPrefetchIsReadAgain: a prefetch whose listing failed is not
// adopted; the first Full reads the kernel itself and adopts without
// writes.
func TestFailedPrefetchIsReadAgain(t *testing.T) {
	r, _, _ := restartedWithHostAddress(t)
	r.ipvs.Fail(ipvs.CallListServices, fault.Rule{Err: errKernel, Times: 1})
	r.eng.Prefetch()
	res := r.eng.Full(r.ctx, nil, false)
	if n := r.ipvs.Calls(ipvs.CallListServices); n != 2 {
		t.Errorf("%d IPVS listings: want the failed prefetch and the Full's own", n)
	}
	if res.Failures != 0 || res.Writes != 0 || !r.eng.Healthy() {
		t.Errorf("result %+v, healthy %v: want a clean adoption", res, r.eng.Healthy())
	}
	r.expectRoute("tcp 198.18.1.1:80", "198.18.10.1:8080")
}

// TestDriftDuringPrefetchIsRepairedByTheNextRead: a virtual server deleted
// by hand after the prefetch read it, before the first Full, is put back by
// the next read of the kernel (as drift after any read is).
func TestDriftDuringPrefetchIsRepairedByTheNextRead(t *testing.T) {
	r, _, _ := restartedWithHostAddress(t)
	r.eng.Prefetch()
	read := <-r.eng.prefetch.done // the read has finished
	vs := key(t, "tcp 198.18.1.1:80")
	if err := r.ipvs.DeleteVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	r.eng.prefetch.done <- read
	r.full()
	r.full()
	r.expectRoute("tcp 198.18.1.1:80", "198.18.10.1:8080")
}
