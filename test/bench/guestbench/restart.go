package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// restart kills ipvs-proxy (SIGKILL, as an OOM kill or a crash would) once
// the kernel holds exactly the benchmark's services again, starts it with
// the same flags, and times its way back to synced and healthy.
func restart(res *bench.Result, sp *daemonSpec, d *guest.Daemon, k kernel, o options) error {
	want := res.Services * bench.EndpointsPerService
	err := guest.Eventually(o.coldCap, 500*time.Millisecond, func() (bool, string) {
		_, rs, err := k.count()
		return err == nil && rs == want, fmt.Sprintf("%d real servers, want %d (%v)", rs, want, err)
	})
	if err != nil {
		return fmt.Errorf("waiting for the removed endpoints to drain before the restart: %w", err)
	}
	before, err := countAddresses()
	if err != nil {
		return err
	}
	if err := d.Kill(); err != nil {
		return err
	}
	nd, start, err := sp.start(res.Daemon + "-restart")
	if err != nil {
		return err
	}
	defer nd.Kill()
	if res.Daemon == bench.Ours {
		// The CPU profile of the way back (informers, then the adopting
		// first sync), as long as the cold sync took.
		profiled := profileRestart(res.Cold.Synced)
		defer func() { <-profiled }()
	}
	r := &bench.Restart{Synced: bench.NotTimed, Healthz: bench.NotTimed, AddressesBefore: before}
	res.Restart = r
	since := func() float64 { return time.Since(start).Seconds() }
	for time.Since(start) < o.coldCap && (r.Synced == bench.NotTimed || r.Healthz == bench.NotTimed) {
		if nd.Exited() {
			return fmt.Errorf("the restarted daemon exited; log %s:\n%s", nd.Log, nd.LogTail(20))
		}
		if m, err := guest.ScrapeMetrics(); r.Synced == bench.NotTimed && err == nil && syncedFamilies(m, sp.families) {
			r.Synced = since()
		}
		if r.Healthz == bench.NotTimed && healthy() {
			r.Healthz = since()
		}
		time.Sleep(pollInterval(time.Since(start)))
	}
	r.InformersSynced = logTime(nd, start, sp.informers)
	// Above 500 virtual servers the first sync assumes what the previous
	// run recorded; the first repair cycle then reads it all back
	// (proxier/reconcile/adopt.go): wait for that too, and time it.
	r.Verified = bench.NotTimed
	if _, adopted := nd.LogContains("Adopted the existing kernel state"); strings.Contains(adopted, "assumed=") {
		err := guest.Eventually(o.coldCap, time.Second, func() (bool, string) {
			ok, _ := nd.LogContains(verifiedLine)
			return ok, "the adopting repair cycle has not ended"
		})
		if err == nil {
			r.Verified = logTime(nd, start, [][]string{{verifiedLine}})
		}
	}
	time.Sleep(2 * time.Second) // let anything the sync queued be written, and counted
	m, err := guest.ScrapeMetrics()
	if err != nil {
		return err
	}
	r.KernelWrites = m["ipvs_proxy_kernel_writes_total"]
	if r.AddressesAfter, err = countAddresses(); err != nil {
		return err
	}
	_, r.Adopted = nd.LogContains("Adopted the existing kernel state")
	r.Usage, err = usage(nd)
	logf("Restart: synced %.2fs healthz %.2fs verified %.2fs writes %.0f, addresses %d before and %d after: %s",
		r.Synced, r.Healthz, r.Verified, r.KernelWrites, r.AddressesBefore, r.AddressesAfter, r.Adopted)
	return err
}

// profileRestart saves the restarted daemon's CPU profile of its first
// seconds (between 10 s and 5 minutes) as cpu-restart.pprof, once its
// metrics server answers; the channel closes when it is saved.
func profileRestart(seconds float64) <-chan struct{} {
	done := make(chan struct{})
	seconds = min(max(seconds, 10), 300)
	go func() {
		defer close(done)
		err := guest.Eventually(30*time.Second, 100*time.Millisecond, func() (bool, string) {
			_, err := guest.ScrapeMetrics()
			return err == nil, fmt.Sprintf("metrics: %v", err)
		})
		if err != nil {
			logf("No restart profile: %v", err)
			return
		}
		saveProfile("cpu-restart", fmt.Sprintf("profile?seconds=%d", int(seconds)))
	}()
	return done
}

// verifiedLine is the daemon's log line when an adopting repair cycle ends.
const verifiedLine = "Verified the adopted kernel state"

// countAddresses counts the addresses bound on the dummy interface, as
// addresses or local routes (guest.BoundAddrs).
func countAddresses() (int, error) {
	bound, err := guest.BoundAddrs()
	return len(bound), err
}
