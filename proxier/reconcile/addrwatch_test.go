package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
)

// addrWatch collects the fake's notifications into AddressChanges, as the
// daemon does.
type addrWatch struct {
	mu sync.Mutex
	ch AddressChanges
}

func (r *rig) watchAddresses() *addrWatch {
	r.t.Helper()
	w := &addrWatch{ch: AddressChanges{Addrs: map[netip.Addr]bool{}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.addr.Watch(ctx, func(ev addr.Event) {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch {
			case ev.Kind == addr.EventsLost || ev.Kind == addr.InterfaceChanged:
				w.ch.Unknown = true
			case ev.Dummy:
				w.ch.Addrs[ev.Addr] = ev.Kind == addr.AddressAdded
			}
		})
	}()
	r.t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); !r.addr.Watching(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatal("Watch did not subscribe")
		}
	}
	return w
}

// take returns the changes collected so far and forgets them.
func (w *addrWatch) take() AddressChanges {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.ch
	w.ch = AddressChanges{Addrs: map[netip.Addr]bool{}}
	return ch
}

// services puts n ClusterIP services with one endpoint each.
func (r *rig) services(n int) {
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		ip := fmt.Sprintf("198.18.%d.%d", 100+i/250, 1+i%250)
		r.src.put(k8stest.Service("ns", name, func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} }),
			k8stest.Slice("ns", name, name+"-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	}
}

// TestAddressDriftRepairedOnNotification: an address deleted behind our
// back is bound again as soon as its notification is handed over, without
// a repair cycle; the notifications of our own binds and unbinds (a cold
// sync of 600 services, then a deletion) list nothing; unknown changes
// (an overflow) list once.
func TestAddressDriftRepairedOnNotification(t *testing.T) {
	r := newRig(t)
	w := r.watchAddresses()
	r.services(600)
	r.full()
	vip := netip.MustParseAddr("198.18.100.7")
	if !strings.Contains(r.addr.Dump(), "\n198.18.100.7\n") {
		t.Fatalf("%s not bound by the cold sync", vip)
	}

	// Our own binds (600 notifications) agree with the applied state.
	r.resetCounts()
	var res Result
	ch := w.take()
	if len(ch.Addrs) != 600 {
		t.Fatalf("notifications of the cold sync = %d addresses, want 600", len(ch.Addrs))
	}
	if r.eng.RepairAddressDrift(r.ctx, ch, &res) || r.addr.Calls(addr.CallList) != 0 || r.addr.Writes()+r.ipvs.Writes() != 0 {
		t.Errorf("own binds: listings %d, writes %d, want none", r.addr.Calls(addr.CallList), r.addr.Writes()+r.ipvs.Writes())
	}
	// So do our own unbinds.
	name := r.src.ServiceNames()[0]
	r.src.remove(name)
	r.sync(name)
	r.resetCounts()
	if r.eng.RepairAddressDrift(r.ctx, w.take(), &res) || r.addr.Calls(addr.CallList) != 0 {
		t.Errorf("own unbind: listings %d, want none", r.addr.Calls(addr.CallList))
	}

	// An address deleted behind our back: one listing, one bind.
	r.addr.RemoveAddress(vip)
	if !r.eng.RepairAddressDrift(r.ctx, w.take(), &res) {
		t.Fatal("the deletion of a bound address was not seen as drift")
	}
	if got := r.addr.Calls(addr.CallList); got != 1 {
		t.Errorf("listings after the deletion = %d, want 1", got)
	}
	if !strings.Contains(r.addr.Dump(), "\n198.18.100.7\n") {
		t.Errorf("%s not bound again:\n%s", vip, r.addr.Dump())
	}
	// Its own repair bind is no drift.
	r.resetCounts()
	if r.eng.RepairAddressDrift(r.ctx, w.take(), &res) || r.addr.Calls(addr.CallList) != 0 {
		t.Errorf("the repair's own bind was seen as drift")
	}

	// A foreign address on our interface is unbound.
	foreign := netip.MustParseAddr("198.18.99.9")
	r.addr.AddAddress(foreign)
	if !r.eng.RepairAddressDrift(r.ctx, w.take(), &res) || strings.Contains(r.addr.Dump(), foreign.String()) {
		t.Errorf("foreign address not repaired:\n%s", r.addr.Dump())
	}

	// Lost notifications: one listing, whatever changed.
	r.resetCounts()
	r.addr.Inject(addr.Event{Kind: addr.EventsLost})
	if !r.eng.RepairAddressDrift(r.ctx, w.take(), &res) || r.addr.Calls(addr.CallList) != 1 {
		t.Errorf("overflow: listings %d, want 1", r.addr.Calls(addr.CallList))
	}
	if res.Failures != 0 {
		t.Errorf("failures = %d", res.Failures)
	}
}

// TestAddressDriftBeforeFirstFull: before the first Full, which lists
// everything, notifications are not acted on.
func TestAddressDriftBeforeFirstFull(t *testing.T) {
	r := newRig(t)
	var res Result
	if r.eng.RepairAddressDrift(r.ctx, AddressChanges{Unknown: true}, &res) || r.addr.Calls(addr.CallList) != 0 {
		t.Error("listed before the first Full")
	}
}
