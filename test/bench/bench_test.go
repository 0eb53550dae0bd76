//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/host"
)

const guestBin = "guestbench"

// TestSideBySide runs each daemon over each size, each on a fresh VM boot,
// against one API server holding the same objects, and writes the results
// to test/bench/results/. See doc.go for the knobs.
func TestSideBySide(t *testing.T) {
	apiserver.RequireBinaries(t)
	cfg := readConfig(t)
	s := startSuite(t, cfg)
	// Protobuf, as the daemons use: creating 100,000 services costs the
	// API server less CPU than in JSON.
	rc := s.Plane.Admin().Config()
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	out := newResults(t, cfg)
	for _, n := range cfg.sizes {
		start := time.Now()
		etcdURL := ""
		if cfg.populateEtcd {
			etcdURL = s.Plane.EtcdURL()
		}
		if err := Populate(t.Context(), client, etcdURL, n, 32); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d services × %d endpoints exist (%v)", n, EndpointsPerService, time.Since(start).Round(time.Second))
		saveEtcd(t, s, cfg.etcdCache, n)
		for _, daemon := range cfg.daemons {
			if daemon == "none" {
				continue
			}
			if daemon == KPIPVS && n > cfg.ipvsMax {
				continue
			}
			for rep := range cfg.repeat {
				if err := Reset(t.Context(), client, n, cfg.changes, 16); err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s-%d-%d", daemon, n, rep)
				t.Run(name, func(t *testing.T) { out.add(t, runOne(t, s, cfg, daemon, n, name)) })
			}
		}
	}
}

// config is what the environment asks for.
type config struct {
	sizes   []int
	daemons []string
	changes int
	memMB   int
	repeat  int
	// ipvsMax is the largest size kube-proxy's IPVS mode runs at: its first
	// sync takes ~8 min already at 1,000 services in the VM.
	ipvsMax int
	coldCap time.Duration
	// idle is how long the idle CPU is measured (BENCH_IDLE); oursArgs are
	// extra ipvs-proxy flags (BENCH_OURS_ARGS, space-separated), e.g. a
	// tighter --ipvs-sync-period.
	idle     time.Duration
	oursArgs string
	// driftCap is how long each drift repair is waited for
	// (BENCH_DRIFT_CAP; 0 skips the drift phase).
	driftCap time.Duration
	// burst is whether the burst phase runs (BENCH_BURST, default 1).
	burst bool
	// populateEtcd writes the objects straight into etcd
	// (BENCH_POPULATE=etcd; default api: through the API server).
	populateEtcd bool
	// etcdCache holds the API server's etcd data after populating each
	// size (BENCH_ETCD_CACHE; "none" neither reads nor writes it).
	etcdCache string
}

func readConfig(t *testing.T) config {
	c := config{
		sizes:   ints(t, env("BENCH_SIZES", "1000,10000")),
		daemons: strings.Split(env("BENCH_DAEMONS", strings.Join([]string{Ours, KPNFT, KPIPVS}, ",")), ","),
		changes: ints(t, env("BENCH_CHANGES", "200"))[0],
		memMB:   ints(t, env("BENCH_MEM", "3072"))[0],
		repeat:  ints(t, env("BENCH_REPEAT", "1"))[0],
		ipvsMax: ints(t, env("BENCH_IPVS_MAX", "1000"))[0],
	}
	var err error
	if c.coldCap, err = time.ParseDuration(env("BENCH_COLD_CAP", "12m")); err != nil {
		t.Fatal(err)
	}
	if c.idle, err = time.ParseDuration(env("BENCH_IDLE", "4m")); err != nil {
		t.Fatal(err)
	}
	if c.driftCap, err = time.ParseDuration(env("BENCH_DRIFT_CAP", "3m")); err != nil {
		t.Fatal(err)
	}
	c.oursArgs = os.Getenv("BENCH_OURS_ARGS")
	c.burst = env("BENCH_BURST", "1") != "0"
	c.populateEtcd = env("BENCH_POPULATE", "api") == "etcd"
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	c.etcdCache = env("BENCH_ETCD_CACHE", filepath.Join(cache, "ipvs-proxy", "bench", "etcd"))
	return c
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func ints(t *testing.T, list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%q: want positive whole numbers", list)
		}
		out = append(out, n)
	}
	return out
}

// startSuite builds the daemon and the guest program and starts the API
// server with test/e2e/host.
func startSuite(t *testing.T, cfg config) *host.Suite {
	ctx := t.Context()
	root, err := host.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "ipvs-proxy", "bench", "bin")
	if err := host.Build(ctx, root, bin, host.DaemonBin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(bin, guestBin), "./test/bench/guestbench")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", guestBin, err, out)
	}
	share := t.TempDir()
	if os.Getenv("BENCH_KEEP") == "1" {
		if share, err = os.MkdirTemp("", "ipvs-proxy-bench-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("Keeping the share directory %s", share)
	}
	seed := etcdSeed(t, cfg.etcdCache, cfg.sizes[0])
	s, err := host.Start(ctx, host.Config{ModRoot: root, Share: share, BinDir: bin, EtcdFrom: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stopping the API server: %v", err)
		}
	})
	return s
}

// runOne boots a VM that measures one daemon and returns its result.
func runOne(t *testing.T, s *host.Suite, cfg config, daemon string, n int, name string) *run {
	timeout := cfg.coldCap + time.Duration(cfg.changes)*3*time.Second + 10*time.Minute + cfg.idle
	if daemon == Ours {
		timeout += 5 * (cfg.driftCap + 5*time.Second) // the drift phase's five waits
	}
	if cfg.burst {
		timeout += 2*cfg.coldCap + time.Minute // programming the new services, and removing them
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout+time.Minute)
	defer cancel()
	r := &run{HostLoadBefore: loadAvg()}
	start := time.Now()
	rc, err := s.Run(ctx, host.Run{
		Name: name,
		Command: []string{"/e2e/bin/" + guestBin, "-daemon", daemon, "-services", strconv.Itoa(n),
			"-changes", strconv.Itoa(cfg.changes), "-cold-cap", cfg.coldCap.String(), "-idle", cfg.idle.String(),
			"-drift-cap", cfg.driftCap.String(), "-ours-args", cfg.oursArgs, "-burst=" + strconv.FormatBool(cfg.burst)},
		Timeout: timeout,
		MemMB:   cfg.memMB,
		Output:  func(line string) { t.Log(line) },
	})
	r.HostLoadAfter, r.VMSeconds = loadAvg(), time.Since(start).Seconds()
	if err != nil {
		t.Fatal(err)
	}
	data, rerr := os.ReadFile(filepath.Join(s.LogDir(name), "result.json"))
	if rerr == nil {
		rerr = json.Unmarshal(data, &r.Result)
	}
	if rc != 0 {
		t.Errorf("%s: the guest exited %d after %v; logs in %s", name, rc, time.Since(start).Round(time.Second), s.LogDir(name))
	}
	if rerr != nil {
		t.Errorf("%s: no result: %v", name, rerr)
		return nil
	}
	t.Logf("RESULT %s", r.Result.Summary())
	return r
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
