package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// pollEvery is how often the kernel is read for each change in flight.
const pollEvery = 2 * time.Millisecond

// change is one write in flight: the kernel must come to show extra in
// service svc (add) or stop showing it.
type change struct {
	svc      int
	extra    netip.Addr
	add      bool
	addOf    *change // for a removal, the add it undoes
	deadline time.Time
	returned time.Time // when the write's response arrived
	version  string    // the patched slice's resource version
	seen     time.Time // when the kernel first showed the change
	done     bool      // seen or given up
}

// plan returns n/2 extra endpoints added to services spread over all, then
// each removed again, so that the objects end as they started.
func plan(n, services int) []*change {
	half := min(n/2, services, bench.MaxChanged)
	out := make([]*change, 0, 2*half)
	for j := range half {
		out = append(out, &change{svc: bench.Changed(j, half, services), extra: bench.ExtraIP(j), add: true})
	}
	for j := range half {
		out = append(out, &change{svc: out[j].svc, extra: out[j].extra, addOf: out[j]})
	}
	return out
}

// changePhase writes o.changes endpoint changes 1-2 s apart (plan).
func changePhase(ctx context.Context, res *bench.Result, cl *guest.Cluster, d *guest.Daemon, daemonStart time.Time, k kernel, o options) error {
	if err := k.prepare(); err != nil {
		return err
	}
	var err error
	if res.BeforeChanges, err = usage(d); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, uint64(res.Services)))
	gap := func() time.Duration { return time.Second + time.Duration(rng.Int64N(int64(time.Second))) }
	w := writer{cl: cl, d: d, k: k, daemon: res.Daemon, daemonStart: daemonStart, timeout: o.changeTimeout}
	if res.Changes, err = w.time(ctx, plan(o.changes, res.Services), gap); err != nil {
		return err
	}
	u, err := usage(d)
	res.ChangeUsage = u
	return err
}

// writer writes changes through the API and times them in the kernel.
type writer struct {
	cl          *guest.Cluster
	d           *guest.Daemon
	k           kernel
	daemon      string
	daemonStart time.Time
	timeout     time.Duration
}

// time writes the changes one at a time, gap() apart, and returns each
// one's timing once every one is seen or has timed out.
func (w writer) time(ctx context.Context, changes []*change, gap func() time.Duration) ([]bench.Change, error) {
	var mu sync.Mutex
	var inflight []*change
	stop := make(chan struct{})
	watched, err := watchSlices(ctx, w.cl)
	if err != nil {
		return nil, err
	}
	defer watched.close()
	polled := make(chan error, 1)
	go func() { polled <- poll(w.k, &mu, &inflight, stop) }()
	out := make([]bench.Change, 0, len(changes))
	next := time.Now()
	for _, c := range changes {
		time.Sleep(time.Until(next))
		next = time.Now().Add(gap())
		var extra []netip.Addr
		if c.add {
			extra = []netip.Addr{c.extra}
		}
		patch, err := bench.EndpointsPatch(c.svc, extra...)
		if err != nil {
			close(stop)
			return nil, err
		}
		c.deadline = time.Now().Add(w.timeout)
		mu.Lock()
		if c.addOf == nil || !c.addOf.seen.IsZero() {
			inflight = append(inflight, c)
		} else {
			c.done = true // its add never showed: its removal would show at once
		}
		mu.Unlock()
		begin := time.Now()
		es, err := w.cl.Client.DiscoveryV1().EndpointSlices(bench.Namespace).Patch(ctx, bench.Slice(c.svc).Name,
			types.MergePatchType, patch, metav1.PatchOptions{})
		mu.Lock()
		c.returned = time.Now()
		if err == nil {
			c.version = es.ResourceVersion
		}
		mu.Unlock()
		if err != nil {
			close(stop)
			return nil, fmt.Errorf("patching the slice of service %d: %w", c.svc, err)
		}
		out = append(out, bench.Change{Service: c.svc, Add: c.add, Write: c.returned.Sub(begin).Seconds(),
			At: c.returned.Sub(w.daemonStart).Seconds()})
		if w.d.Exited() {
			close(stop)
			return nil, fmt.Errorf("%s exited during the changes; log %s:\n%s", w.daemon, w.d.Log, w.d.LogTail(20))
		}
	}
	waitAll(&mu, changes)
	close(stop)
	if err := <-polled; err != nil {
		return nil, err
	}
	for i, c := range changes {
		out[i].Latency, out[i].Watched = bench.NotTimed, bench.NotTimed
		if !c.seen.IsZero() {
			out[i].Latency = c.seen.Sub(c.returned).Seconds()
		}
		if at, ok := watched.at(bench.Slice(c.svc).Name, c.version); ok {
			out[i].Watched = at.Sub(c.returned).Seconds()
		}
	}
	return out, nil
}

// poll reads the kernel for every change in flight until stop closes.
func poll(k kernel, mu *sync.Mutex, inflight *[]*change, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		case <-time.After(pollEvery):
		}
		mu.Lock()
		todo := append([]*change(nil), *inflight...)
		mu.Unlock()
		var keep []*change
		for _, c := range todo {
			present, err := k.shows(c.svc, c.extra)
			if err != nil {
				return err
			}
			now := time.Now()
			mu.Lock()
			switch {
			case present == c.add:
				c.seen, c.done = now, true
			case now.After(c.deadline):
				c.done = true
			default:
				keep = append(keep, c)
			}
			mu.Unlock()
		}
		mu.Lock()
		*inflight = append(keep, (*inflight)[len(todo):]...)
		mu.Unlock()
	}
}

// waitAll waits until every change is seen or has timed out.
func waitAll(mu *sync.Mutex, all []*change) {
	for {
		mu.Lock()
		done := true
		for _, c := range all {
			done = done && c.done
		}
		mu.Unlock()
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
