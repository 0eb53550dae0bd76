package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// coldSync waits, up to o.coldCap, for the daemon's first complete sync and
// fills res.Cold. Times are seconds from start.
func coldSync(res *bench.Result, sp *daemonSpec, d *guest.Daemon, start time.Time, k kernel, o options) error {
	c := &res.Cold
	c.Cap = o.coldCap.Seconds()
	c.InformersSynced, c.Synced, c.Healthz = bench.NotTimed, bench.NotTimed, bench.NotTimed
	since := func() float64 { return time.Since(start).Seconds() }
	kp := startKernelPoll(k, res.Services, start)
	defer kp.stop()
	nextLog := time.Now().Add(30 * time.Second)
	for time.Since(start) < o.coldCap {
		if d.Exited() {
			return fmt.Errorf("%s exited during its first sync; log %s:\n%s", res.Daemon, d.Log, d.LogTail(20))
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
		kp.fill(c)
		if c.Kernel != bench.NotTimed && c.Synced != bench.NotTimed && c.Healthz != bench.NotTimed {
			break
		}
		if time.Now().After(nextLog) {
			logf("Waiting: %.0fs, kernel %d/%d, synced %v", since(), c.VirtualServers, c.RealServers, c.Synced != bench.NotTimed)
			nextLog = time.Now().Add(30 * time.Second)
		}
		time.Sleep(pollInterval(time.Since(start)))
	}
	if c.InformersSynced == bench.NotTimed {
		c.InformersSynced = logTime(d, start, sp.informers)
	}
	kp.fill(c)
	if c.Kernel == bench.NotTimed {
		logf("The kernel never looked complete (last read: %d/%d, error %v); it holds:\n%s",
			c.VirtualServers, c.RealServers, kp.lastErr(), head(kernelDump(res.Daemon), 60))
	} else if err := confirm(res, k); err != nil {
		return err
	}
	u, err := usage(d)
	c.Usage = u
	return err
}

// pollInterval is how long the cold sync and the restart wait between two
// reads of the daemon's metrics and /healthz, elapsed after its start: a
// hundredth of it, between 50 ms and 1 s. Each read makes the daemon
// gather every metric; at 20 a second that cost ipvs-proxy 14 s of CPU in
// a 100k restart (T2235Z's profile), beside the daemon it measures. A
// hundredth keeps the figure's resolution at 1%.
func pollInterval(elapsed time.Duration) time.Duration {
	return min(time.Second, max(50*time.Millisecond, elapsed/100))
}

// confirm counts the whole table once the poll saw it complete: the IPVS
// poll reads a sample. What it counts replaces the poll's figures.
func confirm(res *bench.Result, k kernel) error {
	vs, rs, err := k.count()
	if err != nil {
		return err
	}
	res.Cold.VirtualServers, res.Cold.RealServers = vs, rs
	if res.Daemon != bench.KPNFT && (vs < res.Services || rs < res.Services*bench.EndpointsPerService) {
		res.Notes = append(res.Notes, fmt.Sprintf("the sample looked complete at %.1fs, but the full count after it found %d virtual and %d real servers",
			res.Cold.Kernel, vs, rs))
	}
	return nil
}

// kernelPoll reads the kernel in its own goroutine: a read can block for
// minutes (kube-proxy's nftables transaction at 10k services holds the
// nf_tables mutex), and the metrics and /healthz must still be watched
// meanwhile. When a blocked read returns, the next one starts at once.
type kernelPoll struct {
	mu     sync.Mutex
	at     float64 // seconds from start when complete, or NotTimed
	vs, rs int
	took   time.Duration
	every  time.Duration
	err    error
	done   chan struct{}
	closed sync.Once
}

// Reading the whole table costs the guest CPU the daemon also needs: at
// most every quarter second, at most a fifth of the time, at least every 5 s.
const (
	minPoll = 250 * time.Millisecond
	maxPoll = 5 * time.Second
)

func startKernelPoll(k kernel, services int, start time.Time) *kernelPoll {
	p := &kernelPoll{at: bench.NotTimed, done: make(chan struct{}), every: minPoll}
	go func() {
		for {
			done, vs, rs, took, err := readKernel(k, services)
			p.mu.Lock()
			p.vs, p.rs, p.took, p.err = vs, rs, took, err
			p.every = min(maxPoll, max(minPoll, 5*took))
			if err == nil && done {
				p.at = time.Since(start).Seconds()
			}
			wait, finished := p.every, p.at != bench.NotTimed
			p.mu.Unlock()
			if finished {
				return
			}
			select {
			case <-p.done:
				return
			case <-time.After(wait):
			}
		}
	}()
	return p
}

func (p *kernelPoll) fill(c *bench.Cold) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.Kernel, c.VirtualServers, c.RealServers = p.at, p.vs, p.rs
	c.PollRead, c.PollInterval = p.took.Seconds(), p.every.Seconds()
}

func (p *kernelPoll) lastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *kernelPoll) stop() { p.closed.Do(func() { close(p.done) }) }

// kernelDump returns the daemon's kernel state as its own tools print it.
func kernelDump(daemon string) string {
	if daemon == bench.KPNFT {
		out, _ := guest.Run("nft", "list", "map", "ip", "kube-proxy", "service-ips")
		return out
	}
	return guest.Dump()
}

func head(s string, lines int) string {
	parts := strings.SplitN(s, "\n", lines+1)
	return strings.Join(parts[:min(lines, len(parts))], "\n")
}
