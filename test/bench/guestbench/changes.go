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
	deadline time.Time
	returned time.Time // when the write's response arrived
	seen     time.Time // when the kernel first showed the change
	done     bool      // seen or given up
}

// changePhase writes o.changes endpoint changes 1-2 s apart: first an extra
// endpoint added to each of o.changes/2 services spread over all, then each
// removed again, so that every run ends with the objects it started with.
func changePhase(ctx context.Context, res *bench.Result, cl *guest.Cluster, d *guest.Daemon, daemonStart time.Time, k kernel, o options) error {
	if err := k.prepare(); err != nil {
		return err
	}
	half := min(o.changes/2, res.Services, bench.MaxChanged)
	var err error
	if res.BeforeChanges, err = usage(d); err != nil {
		return err
	}
	var mu sync.Mutex
	var inflight []*change
	stop := make(chan struct{})
	polled := make(chan error, 1)
	go func() { polled <- poll(k, &mu, &inflight, stop) }()
	all := make([]*change, 0, 2*half)
	rng := rand.New(rand.NewPCG(1, uint64(res.Services)))
	next := time.Now()
	for n := range 2 * half {
		time.Sleep(time.Until(next))
		next = time.Now().Add(time.Second + time.Duration(rng.Int64N(int64(time.Second))))
		j := n % half
		c := &change{svc: bench.Changed(j, half, res.Services), extra: bench.ExtraIP(j), add: n < half}
		var extra []netip.Addr
		if c.add {
			extra = []netip.Addr{c.extra}
		}
		patch, err := bench.EndpointsPatch(c.svc, extra...)
		if err != nil {
			return err
		}
		c.deadline = time.Now().Add(o.changeTimeout)
		mu.Lock()
		if c.add || !all[j].seen.IsZero() {
			inflight = append(inflight, c)
		} else {
			c.done = true // its add never showed: its removal would show at once
		}
		mu.Unlock()
		begin := time.Now()
		_, err = cl.Client.DiscoveryV1().EndpointSlices(bench.Namespace).Patch(ctx, bench.Slice(c.svc).Name,
			types.MergePatchType, patch, metav1.PatchOptions{})
		mu.Lock()
		c.returned = time.Now()
		mu.Unlock()
		if err != nil {
			close(stop)
			return fmt.Errorf("patching the slice of service %d: %w", c.svc, err)
		}
		res.Changes = append(res.Changes, bench.Change{Service: c.svc, Add: c.add, Write: c.returned.Sub(begin).Seconds(),
			At: c.returned.Sub(daemonStart).Seconds()})
		all = append(all, c)
		if d.Exited() {
			close(stop)
			return fmt.Errorf("%s exited during the changes; log %s:\n%s", res.Daemon, d.Log, d.LogTail(20))
		}
	}
	waitAll(&mu, all)
	close(stop)
	if err := <-polled; err != nil {
		return err
	}
	for i, c := range all {
		res.Changes[i].Latency = bench.NotTimed
		if !c.seen.IsZero() {
			res.Changes[i].Latency = c.seen.Sub(c.returned).Seconds()
		}
	}
	u, err := usage(d)
	res.ChangeUsage = u
	return err
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
