package guest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Where the host side puts things in the guest (see test/e2e/host).
const (
	EnvDaemon     = "E2E_DAEMON"     // the ipvs-proxy binary
	EnvKubeconfig = "E2E_KUBECONFIG" // a kubeconfig for the API server's guest address
	EnvLogDir     = "E2E_LOGDIR"     // where daemon logs go (read by the host on failure)
	EnvControl    = "E2E_CONTROL"    // the control directory (control.go)
	EnvK8sBin     = "E2E_K8S_BIN"    // kube-proxy and kubectl of the API server's release
)

// The daemon's health and metrics servers.
const (
	HealthzAddr = "127.0.0.1:10256"
	MetricsAddr = "127.0.0.1:10249"
)

// DaemonArgs are the flags every daemon in the suite gets: the node, the
// cluster CIDRs, fast syncs and a short drain timeout. Later flags win, so
// scenarios append their own.
func DaemonArgs() []string {
	return []string{
		"--kubeconfig=" + os.Getenv(EnvKubeconfig),
		"--hostname-override=" + NodeName,
		"--cluster-cidr=" + ClusterCIDRs,
		"--healthz-bind-address=0.0.0.0:10256",
		"--metrics-bind-address=" + MetricsAddr,
		"--ipvs-min-sync-period=100ms",
		"--ipvs-sync-period=10s",
		"--drain-timeout=3s",
		"--drain-poll-interval=250ms",
		"--lame-duck-duration=0s",
		"--kube-api-qps=50",
		"--kube-api-burst=100",
		"--v=2",
	}
}

// Daemon is a running ipvs-proxy (or kube-proxy) process.
type Daemon struct {
	// Log is the path of its combined stdout and stderr.
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// exitedAt is when Wait returned, set before done is closed.
	exitedAt time.Time
	// samples is how many last-sync samples a completed sync shows: one for
	// ipvs-proxy, one per IP family (label ip_family) for kube-proxy, whose
	// IPv6 proxier syncs only after the IPv4 one.
	samples int
}

// StartDaemon starts ipvs-proxy with DaemonArgs and then args, logging to
// $E2E_LOGDIR/NAME.log.
func StartDaemon(name string, args ...string) (*Daemon, error) {
	return StartDaemonArgs(name, append(DaemonArgs(), args...))
}

// StartDaemonArgs starts the daemon with exactly args, for callers that
// must leave one of DaemonArgs out (the benchmark runs with defaults).
func StartDaemonArgs(name string, args []string) (*Daemon, error) {
	return startProcess(name, os.Getenv(EnvDaemon), args)
}

// KubeProxyArgs are kube-proxy's flags in IPVS mode for the same node and
// cluster as DaemonArgs.
func KubeProxyArgs() []string {
	return []string{
		"--proxy-mode=ipvs",
		"--kubeconfig=" + os.Getenv(EnvKubeconfig),
		"--hostname-override=" + NodeName,
		"--cluster-cidr=" + ClusterCIDRs,
		"--healthz-bind-address=0.0.0.0:10256",
		"--metrics-bind-address=" + MetricsAddr,
		"--ipvs-min-sync-period=100ms",
		"--conntrack-max-per-core=0", // leave conntrack's table size alone
		"--v=2",
	}
}

// StartKubeProxy starts kube-proxy (from $E2E_K8S_BIN, the API server's
// release) in IPVS mode, logging to $E2E_LOGDIR/NAME.log.
func StartKubeProxy(name string, args ...string) (*Daemon, error) {
	dir := os.Getenv(EnvK8sBin)
	if dir == "" {
		return nil, errors.New(EnvK8sBin + " is not set: the host found no Kubernetes binaries to mount")
	}
	d, err := startProcess(name, filepath.Join(dir, "kube-proxy"), append(KubeProxyArgs(), args...))
	if d != nil {
		d.samples = 2
	}
	return d, err
}

func startProcess(name, bin string, args []string) (*Daemon, error) {
	logPath := filepath.Join(os.Getenv(EnvLogDir), name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon log: %w", err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	d := &Daemon{Log: logPath, cmd: cmd, done: make(chan struct{}), samples: 1}
	go func() {
		d.err = cmd.Wait()
		d.exitedAt = time.Now()
		close(d.done)
	}()
	return d, nil
}

// PID returns the process's id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to timeout for the process to exit by itself, and
// returns when it exited and its error (nil: status 0).
func (d *Daemon) WaitExit(timeout time.Duration) (time.Time, error) {
	select {
	case <-d.done:
		return d.exitedAt, d.err
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("the daemon did not exit within %v (log %s)", timeout, d.Log)
	}
}

// WaitSynced waits until the daemon has completed a sync without failures:
// kube-proxy's last-sync timestamp metric is set (kube-proxy sets it too).
func (d *Daemon) WaitSynced(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if d.Exited() {
			return fmt.Errorf("the daemon exited: %v (log %s)", d.err, d.Log)
		}
		m, err := ScrapeMetrics()
		if err == nil && allSet(m, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", d.samples) {
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the daemon made no successful sync in %v (last scrape error: %v)", timeout, last)
}

// allSet reports whether metric name has at least min samples and all of
// them, whatever their labels (kube-proxy labels this one by ip_family), are
// above 0.
func allSet(m map[string]float64, name string, min int) bool {
	n := 0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			if v <= 0 {
				return false
			}
			n++
		}
	}
	return n >= min
}

// Kill sends SIGKILL, as an OOM kill or a node's crash would, and waits.
func (d *Daemon) Kill() error {
	if d.Exited() {
		return nil
	}
	if err := d.cmd.Process.Kill(); err != nil {
		return err
	}
	<-d.done
	return nil
}

// Stop sends SIGTERM and waits up to timeout for the process to exit; it
// returns the process's error (nil for a clean exit).
func (d *Daemon) Stop(timeout time.Duration) error {
	if d.Exited() {
		return nil
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		return errors.Join(fmt.Errorf("the daemon did not exit within %v of SIGTERM", timeout), d.Kill())
	}
}

// LogTail returns the last n lines of the daemon's log.
func (d *Daemon) LogTail(n int) string { return fileTail(d.Log, n) }

// LogContains reports whether a line of the log contains every part.
func (d *Daemon) LogContains(parts ...string) (bool, string) {
	data, _ := os.ReadFile(d.Log)
	for _, line := range strings.Split(string(data), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true, line
		}
	}
	return false, ""
}

// ScrapeMetrics reads the daemon's /metrics into a map from "name" or
// "name{labels}" to value.
func ScrapeMetrics() (map[string]float64, error) {
	var m map[string]float64
	err := scrape(func(r io.Reader) (err error) {
		m, err = parseMetrics(r)
		return err
	})
	return m, err
}

// scrape GETs the daemon's /metrics (the text format: no Accept header) and
// hands the body to parse.
func scrape(parse func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+MetricsAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/metrics answered %s", resp.Status)
	}
	return parse(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// Cleanup runs `ipvs-proxy --cleanup` with extra flags and returns its
// output.
func Cleanup(args ...string) (string, error) {
	cmd := exec.Command(os.Getenv(EnvDaemon), append([]string{"--cleanup", "--v=2"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fileTail returns the last n lines of a file, or why it could not.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
