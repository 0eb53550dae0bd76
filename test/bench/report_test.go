//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// run is one VM boot's result with the host's view of it.
type run struct {
	Result         Result
	HostLoadBefore string
	HostLoadAfter  string
	VMSeconds      float64
}

// results writes every run, as it completes, to
// test/bench/results/STAMP.json (everything, raw latencies included) and
// STAMP.txt (one summary line per run).
type results struct {
	dir, stamp string
	runs       []*run
	header     string
}

func newResults(t *testing.T, cfg config) *results {
	dir := env("BENCH_RESULTS", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	host, _ := os.Hostname()
	header := fmt.Sprintf("# side-by-side benchmark %s\n# host %s: %d CPUs, %s, Go %s; VM: test/vm, %d MB, qemu TCG\n"+
		"# sizes %v, daemons %v, %d changes per run, cold-sync cap %v\n",
		now.Format(time.RFC3339), host, runtime.NumCPU(), cpuModel(), runtime.Version(), cfg.memMB,
		cfg.sizes, cfg.daemons, cfg.changes, cfg.coldCap)
	return &results{dir: dir, stamp: now.Format("2006-01-02T1504Z"), header: header}
}

func (r *results) add(t *testing.T, one *run) {
	if one == nil {
		return
	}
	r.runs = append(r.runs, one)
	data, err := json.MarshalIndent(r.runs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(r.header)
	for _, x := range r.runs {
		fmt.Fprintf(&b, "%s | guest %s load %s | host load %s → %s | VM %.0fs\n", x.Result.Summary(),
			x.Result.Guest.Kernel, x.Result.Guest.LoadAvg, x.HostLoadBefore, x.HostLoadAfter, x.VMSeconds)
		for _, n := range x.Result.Notes {
			fmt.Fprintf(&b, "#   %s\n", n)
		}
	}
	base := filepath.Join(r.dir, r.stamp)
	if err := os.WriteFile(base+".json", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".txt", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("Wrote %s.txt", base)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
