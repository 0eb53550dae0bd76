package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// The burst phase: burstServices new services (each with its slice of
// EndpointsPerService endpoints) created at once by burstWriters writers,
// as a deployment wave or a namespace restore would, while burstChanges
// endpoint changes to existing services are written burstGap apart and
// timed. Afterwards the new services are deleted again and the phase waits
// until the kernel is back to what it held before.
const (
	burstServices = 1000
	burstWriters  = 16
	burstChanges  = 40
	burstLead     = time.Second
)

func burstGap(rng *rand.Rand) time.Duration {
	return 300*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond)))
}

func burstPhase(ctx context.Context, res *bench.Result, cl *guest.Cluster, d *guest.Daemon, daemonStart time.Time, k kernel, o options) error {
	n := res.Services
	if n+burstServices > bench.MaxServices {
		res.Notes = append(res.Notes, fmt.Sprintf("no burst phase: %d services leave no room in the address plan", n))
		return nil
	}
	vs0, rs0, err := k.count()
	if err != nil {
		return err
	}
	b := &bench.Burst{Services: burstServices, Created: bench.NotTimed, Kernel: bench.NotTimed}
	res.Burst = b
	start := time.Now()
	b.Start = start.Sub(daemonStart).Seconds()
	created := make(chan error, 1)
	go func() {
		err := bench.CreateServices(ctx, cl.Client, n, n+burstServices, burstWriters, nil)
		if err == nil {
			b.Created = time.Since(start).Seconds()
		}
		created <- err
	}()
	kp := startKernelPoll(k, n+burstServices, start)
	defer kp.stop()
	time.Sleep(burstLead)
	rng := rand.New(rand.NewPCG(2, uint64(n)))
	w := writer{cl: cl, d: d, k: k, daemon: res.Daemon, daemonStart: daemonStart, timeout: o.changeTimeout}
	b.Changes, err = w.time(ctx, plan(burstChanges, n), func() time.Duration { return burstGap(rng) })
	if cerr := <-created; cerr != nil || err != nil {
		return fmt.Errorf("burst: creating: %v; changes: %v", cerr, err)
	}
	var c bench.Cold
	for kp.fill(&c); c.Kernel == bench.NotTimed && time.Since(start) < o.coldCap; kp.fill(&c) {
		time.Sleep(100 * time.Millisecond)
	}
	b.Kernel = c.Kernel
	logf("Burst: %s", res.Summary())
	if err := bench.DeleteServices(ctx, cl.Client, n, n+burstServices, burstWriters); err != nil {
		return err
	}
	// Real servers the change phase removed may still have been draining
	// at the start: back means the virtual servers as before, and at most
	// as many real servers.
	return guest.Eventually(o.coldCap, time.Second, func() (bool, string) {
		vs, rs, err := k.count()
		return err == nil && vs == vs0 && rs <= rs0, fmt.Sprintf("%d virtual and %d real servers, want %d and at most %d back (%v)", vs, rs, vs0, rs0, err)
	})
}
