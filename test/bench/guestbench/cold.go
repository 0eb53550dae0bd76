package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// coldSync waits, up to o.coldCap, for the daemon's first complete sync and
// fills res.Cold. Times are seconds from start.
func coldSync(res *bench.Result, sp *daemonSpec, d *guest.Daemon, start time.Time, k kernel, o options) error {
	c := &res.Cold
	c.Cap = o.coldCap.Seconds()
	c.InformersSynced, c.Kernel, c.Synced, c.Healthz = bench.NotTimed, bench.NotTimed, bench.NotTimed, bench.NotTimed
	// Reading the whole table costs the guest CPU the daemon also needs:
	// read it at most every quarter second, and at most a fifth of the time.
	const minInterval = 250 * time.Millisecond
	interval := minInterval
	var lastRead time.Time
	var lastErr error
	since := func() float64 { return time.Since(start).Seconds() }
	nextLog := time.Now().Add(30 * time.Second)
	for time.Since(start) < o.coldCap {
		if d.Exited() {
			return fmt.Errorf("%s exited during its first sync; log %s:\n%s", res.Daemon, d.Log, d.LogTail(20))
		}
		if c.Kernel == bench.NotTimed && time.Since(lastRead) >= interval {
			lastRead = time.Now()
			done, vs, rs, took, err := readKernel(k, res.Services)
			c.PollRead, c.PollInterval = took.Seconds(), interval.Seconds()
			c.VirtualServers, c.RealServers = vs, rs
			if err == nil && done {
				c.Kernel = since()
			}
			lastErr = err
			interval = max(minInterval, 5*took)
		}
		if c.Synced == bench.NotTimed {
			if m, err := guest.ScrapeMetrics(); err == nil && syncedFamilies(m, sp.families) {
				c.Synced = since()
			}
		}
		if c.Healthz == bench.NotTimed && healthy() {
			c.Healthz = since()
		}
		if c.InformersSynced == bench.NotTimed {
			c.InformersSynced = logTime(d, start, sp.informers)
		}
		if c.Kernel != bench.NotTimed && c.Synced != bench.NotTimed && c.Healthz != bench.NotTimed {
			break
		}
		if time.Now().After(nextLog) {
			logf("Waiting: %.0fs, kernel %d/%d, synced %v", since(), c.VirtualServers, c.RealServers, c.Synced != bench.NotTimed)
			nextLog = time.Now().Add(30 * time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c.InformersSynced == bench.NotTimed {
		c.InformersSynced = logTime(d, start, sp.informers)
	}
	if c.Kernel == bench.NotTimed {
		logf("The kernel never looked complete (last read: %d/%d, error %v); it holds:\n%s",
			c.VirtualServers, c.RealServers, lastErr, head(kernelDump(res.Daemon), 60))
	}
	u, err := usage(d)
	c.Usage = u
	return err
}

// kernelDump returns the daemon's kernel state as its own tools print it.
func kernelDump(daemon string) string {
	if daemon == bench.KPNFT {
		out, _ := guest.Run("nft", "list", "table", "ip", "kube-proxy")
		return out
	}
	return guest.Dump()
}

func head(s string, lines int) string {
	parts := strings.SplitN(s, "\n", lines+1)
	return strings.Join(parts[:min(lines, len(parts))], "\n")
}
