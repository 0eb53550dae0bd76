package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// sliceWatch is the benchmark's own watch of the EndpointSlices, in the
// guest beside the daemon: when it delivers a patched slice tells how long
// the API server's watch and the VM's network took, apart from the daemon
// (whose log only shows when its sync started). It decodes only the
// changes, in a small heap.
type sliceWatch struct {
	mu      sync.Mutex
	arrived map[string]time.Time // name@resourceVersion
	stop    context.CancelFunc
	done    chan struct{}
}

// watchSlices starts watching from now (a one-item list gives the
// resource version, so nothing already there is replayed).
func watchSlices(ctx context.Context, cl *guest.Cluster) (*sliceWatch, error) {
	slices := cl.Client.DiscoveryV1().EndpointSlices(bench.Namespace)
	l, err := slices.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("listing a slice for the watch's start: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := slices.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching slices: %w", err)
	}
	s := &sliceWatch{arrived: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			now := time.Now()
			es, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			s.mu.Lock()
			s.arrived[es.Name+"@"+es.ResourceVersion] = now
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// at returns when the watch delivered slice name at resource version rv.
func (s *sliceWatch) at(name, rv string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[name+"@"+rv]
	return t, ok
}

// close stops the watch and waits for its goroutine.
func (s *sliceWatch) close() {
	s.stop()
	<-s.done
}
