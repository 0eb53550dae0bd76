package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
	"github.com/ipvs-proxy/ipvs-proxy/test/bench/probe"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// daemonSpec says how to start a daemon and how to tell it is synced.
type daemonSpec struct {
	flags []string
	start func(name string) (*guest.Daemon, time.Time, error)
	// families is how many kubeproxy_sync_proxy_rules_last_timestamp_seconds
	// samples a completed sync shows: kube-proxy syncs each IP family.
	families int
	// informers are the log lines, each a list of parts, that say the
	// Service and EndpointSlice caches (and the Node's) are synced.
	informers [][]string
}

// Every daemon runs with its defaults where the end-to-end suite's flags
// (guest.DaemonArgs, guest.KubeProxyArgs) speed things up for tests: it
// syncs at most once a second (--ipvs-min-sync-period=1s, the default of
// ipvs-proxy and of kube-proxy's IPVS mode, and kube-proxy nftables mode's
// own default) and talks to the API server at 5 QPS. ipvs-proxy's
// --ipvs-sync-period is left unset, as kubeadm leaves it: cheap checks
// every 30 s, the full read-back every 30 minutes.
var (
	oursExtra = []string{"--ipvs-min-sync-period=1s", "--drain-timeout=10s",
		"--drain-poll-interval=2s", "--kube-api-qps=5", "--kube-api-burst=10", "--profiling"}
	kpIPVSExtra  = []string{"--ipvs-min-sync-period=1s"}
	kpNFTExtra   = []string{"--proxy-mode=nftables"}
	kpInformers  = [][]string{{"Caches are synced", "service config"}, {"Caches are synced", "endpoint slice config"}}
	ourInformers = [][]string{{"Informer synced", `kind="Services"`}, {"Informer synced", `kind="EndpointSlices"`}, {"Informer synced", `kind="Node"`}}
)

func spec(daemon string, oursArgs []string) daemonSpec {
	timed := func(f func(string, ...string) (*guest.Daemon, error), extra []string) func(string) (*guest.Daemon, time.Time, error) {
		return func(name string) (*guest.Daemon, time.Time, error) {
			start := time.Now()
			d, err := f(name, extra...)
			return d, start, err
		}
	}
	switch daemon {
	case bench.KPIPVS:
		return daemonSpec{flags: append(guest.KubeProxyArgs(), kpIPVSExtra...), start: timed(guest.StartKubeProxy, kpIPVSExtra),
			families: 2, informers: kpInformers}
	case bench.KPNFT:
		return daemonSpec{flags: append(guest.KubeProxyArgs(), kpNFTExtra...), start: timed(guest.StartKubeProxy, kpNFTExtra),
			families: 2, informers: kpInformers}
	}
	ours := append(append(withoutFlag(guest.DaemonArgs(), "--ipvs-sync-period"), oursExtra...), oursArgs...)
	start := func(name string, _ ...string) (*guest.Daemon, error) { return guest.StartDaemonArgs(name, ours) }
	return daemonSpec{flags: ours, start: timed(start, nil), families: 1, informers: ourInformers}
}

// withoutFlag returns args without --name=value.
func withoutFlag(args []string, name string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if !strings.HasPrefix(a, name+"=") {
			out = append(out, a)
		}
	}
	return out
}

// syncedFamilies reports whether every family's last-sync timestamp is set.
func syncedFamilies(m map[string]float64, families int) bool {
	const name = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	n := 0
	for k, v := range m {
		if (k == name || strings.HasPrefix(k, name+"{")) && v > 0 {
			n++
		}
	}
	return n >= families
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// healthy reports whether /healthz answers 200.
func healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+guest.HealthzAddr+"/healthz", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func usage(d *guest.Daemon) (bench.Usage, error) {
	u, err := probe.ReadUsage(d.PID())
	if err != nil {
		return bench.Usage{}, fmt.Errorf("reading the daemon's usage: %w", err)
	}
	return bench.Usage{CPUSeconds: u.CPU.Seconds(), PeakRSSKiB: u.PeakRSSKiB, RSSKiB: u.RSSKiB}, nil
}

// logTime returns when the daemon logged every one of wants, in seconds
// from start, or NotTimed.
func logTime(d *guest.Daemon, start time.Time, wants [][]string) float64 {
	at, ok, err := probe.LogTime(d.Log, start.Year(), time.Local, wants...)
	if err != nil || !ok {
		return bench.NotTimed
	}
	return at.Sub(start).Seconds()
}

// saveHeapProfile writes ipvs-proxy's heap profile (--profiling) beside the
// result, as heap-WHEN.pprof: `go tool pprof -sample_index=alloc_space`
// shows what the daemon allocated since it started, inuse_space what it
// holds.
func saveHeapProfile(when string) { saveProfile("heap-"+when, "heap") }

// saveProfile writes the daemon's /debug/pprof/PATH as NAME.pprof.
func saveProfile(name, path string) {
	resp, err := http.Get("http://" + guest.MetricsAddr + "/debug/pprof/" + path)
	if err != nil {
		logf("No profile %s: %v", name, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %s", resp.Status)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(os.Getenv(guest.EnvLogDir), name+".pprof"), data, 0o644)
	}
	if err != nil {
		logf("No profile %s: %v", name, err)
	}
}
