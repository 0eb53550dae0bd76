package tracker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// TestTrackerConcurrent drives the Tracker from several informer-like
// goroutines while a sync-like goroutine takes changes and reads the
// Store. Run with -race. Every service that really changed must show up
// in some Take, and the Store must end equal to the last events.
func TestTrackerConcurrent(t *testing.T) {
	const writers, perWriter = 4, 200
	var notified atomic.Int64
	tr := New(func() { notified.Add(1) })

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				ns := fmt.Sprintf("w%d", w)
				name := fmt.Sprintf("s%d", i)
				svc := makeService(ns, name)
				sl := makeSlice(ns, name+"-1", name)
				tr.OnService(nil, svc)
				tr.OnEndpointSlice(nil, proxier.NewSlice(sl))
				tr.OnEndpointSlice(proxier.NewSlice(sl), proxier.NewSlice(updSlice(sl, func(s *discovery.EndpointSlice) { s.Endpoints = nil })))
				if i%10 == 0 {
					tr.OnNode(nil, makeNode("n1", func(n *v1.Node) { n.Labels[v1.LabelTopologyZone] = ns }))
				}
			}
		}()
	}

	seen := map[types.NamespacedName]bool{}
	done := make(chan struct{})
	var takers sync.WaitGroup
	takers.Add(1)
	go func() {
		defer takers.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			tr.Pending()
			c := tr.Take()
			for _, n := range c.Services {
				seen[n] = true
				tr.Store().Service(n)
				tr.Store().EndpointSlices(n)
			}
			tr.Store().ServiceNames()
		}
	}()
	wg.Wait()
	close(done)
	takers.Wait()
	for _, n := range tr.Take().Services {
		seen[n] = true
	}

	if len(seen) != writers*perWriter {
		t.Errorf("services seen in Take = %d, want %d", len(seen), writers*perWriter)
	}
	if got := len(tr.Store().ServiceNames()); got != writers*perWriter {
		t.Errorf("stored services = %d, want %d", got, writers*perWriter)
	}
	for w := range writers {
		name := nn(fmt.Sprintf("w%d", w), "s7")
		sl := tr.Store().EndpointSlices(name)
		if len(sl) != 1 || len(sl[0].Endpoints) != 0 {
			t.Errorf("EndpointSlices(%v) = %v, want the last update (no endpoints)", name, sl)
		}
	}
	if notified.Load() == 0 {
		t.Error("notify never called")
	}
}
