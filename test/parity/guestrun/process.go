package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// The metrics both daemons set when a sync completed and when one was
// queued; kube-proxy labels them by ip_family.
const (
	lastSync   = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	lastQueued = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
)

// process is a running daemon.
type process struct {
	cmd     *exec.Cmd
	log     string
	started time.Time
	done    chan struct{}
	err     error
}

// start runs bin with args, its output appended to log.
func start(bin string, args []string, log string) (*process, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: log, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitSynced waits until the daemon reports a sync completed after since
// for the given number of IP families (kube-proxy has one proxier per
// family, and syncs them one after the other), and returns how long after
// its start, and whether every family did. When only some families synced
// before timeout, it settles for those; when none did, it fails.
func (p *process) waitSynced(families int, since time.Time, timeout time.Duration) (time.Duration, bool, error) {
	deadline := time.Now().Add(timeout)
	seen := 0
	for time.Now().Before(deadline) {
		if p.exited() {
			return 0, false, fmt.Errorf("exited: %v (log %s)", p.err, p.log)
		}
		if m, err := guest.ScrapeMetrics(); err == nil {
			if seen = syncedSamples(m, since); seen >= families {
				return time.Since(p.started), true, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if seen > 0 {
		fmt.Printf("only %d of %d IP families synced within %v; going on\n", seen, families, timeout)
		return time.Since(p.started), false, nil
	}
	return 0, false, fmt.Errorf("no sync completed within %v (log %s)", timeout, p.log)
}

// syncedSamples counts the samples of lastSync later than since.
func syncedSamples(m map[string]float64, since time.Time) int {
	n := 0
	for k, v := range m {
		if (k == lastSync || strings.HasPrefix(k, lastSync+"{")) && v > float64(since.UnixNano())/1e9 {
			n++
		}
	}
	return n
}

// waitApplied waits until, for the given number of IP families, a change
// made at since was queued and a sync completed after it was queued.
// kube-proxy holds its proxier's lock for a whole sync and takes it to
// record a node's labels before it queues the sync, so a sync completed
// after that queue time has seen the labels.
func (p *process) waitApplied(families int, since time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited: %v (log %s)", p.err, p.log)
		}
		if m, err := guest.ScrapeMetrics(); err == nil && appliedSamples(m, since) >= families {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no sync queued after %v completed within %v", since.Format(time.TimeOnly), timeout)
}

// appliedSamples counts the label sets whose queue time is after since and
// whose last completed sync is after that.
func appliedSamples(m map[string]float64, since time.Time) int {
	n := 0
	for k, q := range m {
		labels, ok := strings.CutPrefix(k, lastQueued)
		if !ok || (labels != "" && labels[0] != '{') {
			continue
		}
		if q >= float64(since.UnixNano())/1e9 && m[lastSync+labels] > q {
			n++
		}
	}
	return n
}

// stop sends SIGTERM and waits up to timeout, then kills. Stopping a
// stopped process returns nil.
func (p *process) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("did not exit within " + timeout.String() + " of SIGTERM; killed")
	}
}
