//go:build vmtest

package ipvs_test

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kernelMem is the kernel memory an IPVS table occupies: on Debian's 6.1
// a destination and a service are kmalloc'd (no cache of their own) and
// each has per-CPU counters.
type kernelMem struct {
	slab, percpu int64            // bytes, from /proc/meminfo
	caches       map[string]int64 // bytes per slab cache, from /proc/slabinfo
}

// readKernelMem reads the kernel's slab and per-CPU memory.
func readKernelMem(t *testing.T) kernelMem {
	t.Helper()
	m := kernelMem{caches: map[string]int64{}}
	for _, f := range procFields(t, "/proc/meminfo") {
		switch f[0] {
		case "Slab:":
			m.slab = atoi(t, f[1]) * 1024
		case "Percpu:":
			m.percpu = atoi(t, f[1]) * 1024
		}
	}
	// name active_objs num_objs objsize ...; two header lines.
	for _, f := range procFields(t, "/proc/slabinfo")[2:] {
		m.caches[f[0]] = atoi(t, f[2]) * atoi(t, f[3])
	}
	return m
}

// growth formats what grew since before: slab and per-CPU memory, the
// three slab caches that grew most, and the bytes per destination.
func (m kernelMem) growth(before kernelMem, dests int) string {
	type grown struct {
		name  string
		bytes int64
	}
	var caches []grown
	for name, b := range m.caches {
		caches = append(caches, grown{name, b - before.caches[name]})
	}
	slices.SortFunc(caches, func(a, b grown) int { return cmp.Compare(b.bytes, a.bytes) })
	var top []string
	for _, c := range caches[:min(3, len(caches))] {
		top = append(top, fmt.Sprintf("%s %+d MB", c.name, c.bytes>>20))
	}
	slab, percpu := m.slab-before.slab, m.percpu-before.percpu
	return fmt.Sprintf("slab %+d MB (%s), per-CPU %+d MB; %d bytes per destination",
		slab>>20, strings.Join(top, ", "), percpu>>20, (slab+percpu)/int64(dests))
}

// tracefs is where the VM's kernel tracing is mounted.
const tracefs = "/sys/kernel/tracing"

// estimatorRuns traces the IPVS rate estimator for d, while the table sits
// idle, and formats how often it ran and how long each run took. On 6.1
// the estimator is a timer, every 2 s, that walks every service's and
// destination's counters in softirq under one lock (6.2 moved it to
// kthreads). CPU time in /proc/stat would miss it: Debian's kernel samples
// softirq time at the tick (no CONFIG_IRQ_TIME_ACCOUNTING). The function
// graph tracer times the function itself.
func estimatorRuns(t *testing.T, d time.Duration) string {
	t.Helper()
	if err := syscall.Mount("nodev", tracefs, "tracefs", 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
		return fmt.Sprintf("not measured (mounting tracefs: %v)", err)
	}
	// The filter hooks only the estimator: the graph tracer hooking every
	// function made the rest of the run crawl.
	defer func() {
		for _, w := range [][2]string{{"tracing_on", "0"}, {"current_tracer", "nop"}, {"set_ftrace_filter", ""}, {"set_graph_function", ""}} {
			_ = writeTrace(w[0], w[1])
		}
	}()
	setup := [][2]string{{"tracing_on", "0"}, {"current_tracer", "nop"}, {"max_graph_depth", "1"},
		{"set_ftrace_filter", "estimation_timer"}, {"set_graph_function", "estimation_timer"},
		{"trace", ""}, {"current_tracer", "function_graph"}, {"tracing_on", "1"}}
	for _, w := range setup {
		if err := writeTrace(w[0], w[1]); err != nil {
			return fmt.Sprintf("not measured (%v)", err)
		}
	}
	time.Sleep(d)
	if err := writeTrace("tracing_on", "0"); err != nil {
		t.Fatal(err)
	}
	runs := traceDurations(t)
	if len(runs) == 0 {
		return fmt.Sprintf("no estimator run traced in %v", d)
	}
	return fmt.Sprintf("the rate estimator ran %d times in %v, %v each on average (longest %v)",
		len(runs), d, (sum(runs) / time.Duration(len(runs))).Round(time.Millisecond), slices.Max(runs).Round(time.Millisecond))
}

// writeTrace writes one of tracefs's control files.
func writeTrace(name, value string) error {
	return os.WriteFile(filepath.Join(tracefs, name), []byte(value), 0)
}

// traceDurations parses the function graph trace: a traced call of depth
// 1 is one line, "0) ! 149.610 us |  estimation_timer [ip_vs]();".
func traceDurations(t *testing.T) []time.Duration {
	t.Helper()
	var runs []time.Duration
	for _, f := range procFields(t, filepath.Join(tracefs, "trace")) {
		i := slices.Index(f, "us")
		traced := slices.ContainsFunc(f, func(s string) bool { return strings.HasPrefix(s, "estimation_timer") })
		if i < 1 || !traced {
			continue
		}
		us, err := strconv.ParseFloat(f[i-1], 64)
		if err != nil {
			t.Fatalf("parsing the trace line %q: %v", strings.Join(f, " "), err)
		}
		runs = append(runs, time.Duration(us*float64(time.Microsecond)))
	}
	return runs
}

// peakRSS formats the test process's peak resident memory.
func peakRSS(t *testing.T) string {
	t.Helper()
	for _, f := range procFields(t, "/proc/self/status") {
		if f[0] == "VmHWM:" {
			return fmt.Sprintf("%d MB", atoi(t, f[1])>>10)
		}
	}
	t.Fatal("/proc/self/status has no VmHWM")
	return ""
}

// procFields returns the whitespace-separated fields of each line of a
// /proc file.
func procFields(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 {
			lines = append(lines, fields)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return lines
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return n
}
