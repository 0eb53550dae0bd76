// Command guestbench is the guest side of the side-by-side benchmark
// (test/bench): in a fresh test VM, with the benchmark's services already in
// the API server, it starts one daemon and measures it against the real
// kernel, every time on the guest's own clock:
//
//	cold sync  ─► from the process's start until the kernel holds every
//	              service and endpoint, the informers logged synced, the sync
//	              metric is set and /healthz answers 200
//	changes    ─► one ready endpoint added to, then removed from, one
//	              EndpointSlice at a time, written by this program through the
//	              API forward; the time from the write's response until the
//	              kernel shows it (polled every few milliseconds)
//	drift      ─► ipvs-proxy only, before the changes: an address, a
//	              service-ports element, the whole IPVS table, a real server
//	              and a virtual server deleted by hand, one at a time; the
//	              time until the kernel shows each repaired (drift.go)
//	burst      ─► 1,000 new services created at once, and endpoint changes to
//	              existing ones written meanwhile and timed as above
//	              (burst.go); the new services are deleted afterwards
//	restart    ─► ipvs-proxy only: SIGKILL, start again, time to synced and
//	              the kernel writes it issued
//
// It writes the result as JSON to $E2E_LOGDIR/result.json (bench.Result).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// settle is the pause between the cold sync and the first change.
const settle = 5 * time.Second

type options struct {
	daemon        string
	services      int
	changes       int
	coldCap       time.Duration
	changeTimeout time.Duration
	restart       bool
	idle          time.Duration
	oursArgs      string
	driftCap      time.Duration
	burst         bool
}

func main() {
	var o options
	flag.StringVar(&o.daemon, "daemon", bench.Ours, "the daemon: "+strings.Join([]string{bench.Ours, bench.KPIPVS, bench.KPNFT}, ", "))
	flag.IntVar(&o.services, "services", 1000, "how many benchmark services exist in the API server")
	flag.IntVar(&o.changes, "changes", 200, "endpoint changes to time (half adds, half removes)")
	flag.DurationVar(&o.coldCap, "cold-cap", 12*time.Minute, "how long to wait for the first sync")
	flag.DurationVar(&o.changeTimeout, "change-timeout", time.Minute, "how long to wait for one change to reach the kernel")
	flag.DurationVar(&o.idle, "idle", time.Minute, "how long to measure the daemon's CPU while nothing changes")
	flag.BoolVar(&o.restart, "restart", true, "measure a restart (ipvs-proxy only)")
	flag.DurationVar(&o.driftCap, "drift-cap", 3*time.Minute, "how long to wait for each drift repair (ipvs-proxy only; 0 skips the drift phase)")
	flag.BoolVar(&o.burst, "burst", true, "time changes while 1,000 new services are programmed")
	flag.StringVar(&o.oursArgs, "ours-args", "", "extra ipvs-proxy flags, space-separated")
	flag.Parse()
	res, err := run(o)
	if res != nil {
		if werr := writeResult(res); werr != nil {
			fmt.Fprintln(os.Stderr, werr)
			os.Exit(1)
		}
		fmt.Println("RESULT " + res.Summary())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "guestbench:", err)
		os.Exit(1)
	}
}

// run measures one daemon. It returns what it measured so far even when a
// later phase fails.
func run(o options) (*bench.Result, error) {
	kernel, err := newKernel(o.daemon)
	if err != nil {
		return nil, err
	}
	if err := guest.PrepareNode(); err != nil {
		return nil, err
	}
	cluster, err := guest.Connect()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := cluster.EnsureNode(ctx); err != nil {
		return nil, err
	}
	res := &bench.Result{Daemon: o.daemon, Services: o.services, Endpoints: bench.EndpointsPerService, Guest: describeGuest()}
	sp := spec(o.daemon, strings.Fields(o.oursArgs))
	res.Flags = sp.flags
	logf("Starting %s over %d services × %d endpoints", o.daemon, o.services, bench.EndpointsPerService)
	d, start, err := sp.start(o.daemon)
	if err != nil {
		return nil, err
	}
	defer d.Kill()
	if err := coldSync(res, &sp, d, start, kernel, o); err != nil {
		return res, err
	}
	logf("Cold sync: %s", res.Summary())
	if o.daemon == bench.Ours {
		saveHeapProfile("cold")
	}
	// Let the daemon's own follow-up syncs pass: a change right after them
	// would wait for the minimum sync period.
	time.Sleep(settle)
	if err := idle(res, d, o.idle, o.daemon == bench.Ours); err != nil {
		return res, err
	}
	if res.Cold.Synced == bench.NotTimed || res.Cold.Kernel == bench.NotTimed {
		res.Notes = append(res.Notes, fmt.Sprintf("no complete first sync within %v: changes not measured", o.coldCap))
		return res, nil
	}
	if o.daemon == bench.Ours && o.driftCap > 0 {
		if err := driftPhase(res, o); err != nil {
			return res, err
		}
		logf("Drift: %s", res.Summary())
	}
	if err := changePhase(ctx, res, cluster, d, start, kernel, o); err != nil {
		return res, err
	}
	logf("Changes: %s", res.Summary())
	if o.daemon == bench.Ours {
		saveHeapProfile("changes")
	}
	if o.burst {
		if err := burstPhase(ctx, res, cluster, d, start, kernel, o); err != nil {
			return res, err
		}
	}
	if o.restart && o.daemon == bench.Ours {
		if err := restart(res, &sp, d, kernel, o); err != nil {
			return res, err
		}
	}
	return res, nil
}

func writeResult(res *bench.Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(os.Getenv(guest.EnvLogDir), "result.json"), data, 0o644)
}

func describeGuest() bench.Guest {
	g := bench.Guest{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		g.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		g.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kib)
		g.MemMB = kib / 1024
	}
	return g
}

func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// idle measures the daemon's CPU time over a quiet period, minute by
// minute, and the collections and allocations its Go runtime reports;
// with profile, it saves the daemon's CPU profile of that period
// (cpu-idle.pprof).
func idle(res *bench.Result, d *guest.Daemon, period time.Duration, profile bool) error {
	before, err := usage(d)
	if err != nil {
		return err
	}
	gcBefore, allocBefore := goRuntime()
	start := time.Now()
	if profile {
		// The profile request returns at the period's end: the minutes
		// are read beside it.
		profiled := make(chan struct{})
		go func() {
			defer close(profiled)
			saveProfile("cpu-idle", fmt.Sprintf("profile?seconds=%d", int(period.Seconds())))
		}()
		defer func() { <-profiled }()
	}
	last := before
	var perMinute []float64
	for minute := time.Minute; minute <= period; minute += time.Minute {
		time.Sleep(time.Until(start.Add(minute)))
		u, err := usage(d)
		if err != nil {
			return err
		}
		perMinute = append(perMinute, u.CPUSeconds-last.CPUSeconds)
		last = u
	}
	time.Sleep(time.Until(start.Add(period)))
	after, err := usage(d)
	gcAfter, allocAfter := goRuntime()
	res.Idle = bench.Idle{Seconds: time.Since(start).Seconds(), CPUSeconds: after.CPUSeconds - before.CPUSeconds, PerMinute: perMinute}
	if gcBefore >= 0 && gcAfter >= 0 {
		res.Idle.GCs, res.Idle.AllocMB = gcAfter-gcBefore, (allocAfter-allocBefore)/(1<<20)
	}
	return err
}

// goRuntime returns the daemon's completed collections and bytes allocated
// so far, from its metrics, or -1 when they cannot be read.
func goRuntime() (gcs, alloc float64) {
	m, err := guest.ScrapeMetrics()
	if err != nil {
		return -1, -1
	}
	gcs, okGC := m["go_gc_duration_seconds_count"]
	alloc, okAlloc := m["go_memstats_alloc_bytes_total"]
	if !okGC || !okAlloc {
		return -1, -1
	}
	return gcs, alloc
}
