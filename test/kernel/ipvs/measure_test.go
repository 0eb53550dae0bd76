//go:build vmtest

package ipvs_test

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// measureKinds are the measured operations, in the order a cycle runs them
// (each needs the previous one's result).
var measureKinds = []model.OpKind{
	model.OpAddVirtualServer, model.OpAddRealServer, model.OpUpdateRealServer,
	model.OpDeleteRealServer, model.OpDeleteVirtualServer,
}

// writePath performs a list of operations of one kind through one write
// path and returns the first error.
type writePath struct {
	name  string
	apply func(ops []model.Op) error
}

// TestMeasureOpsPerSecond prints IPVS writes per second through three paths:
// moby/ipvs (one request per netlink round trip), ApplyBatch with one
// operation per call (one request per round trip on a bare socket: the
// round trip without moby/ipvs's overhead), and ApplyBatch with all of them
// (256 requests per write). Paths alternate over several rounds and the best
// round is printed, to damp the noise of a shared, emulated machine. It
// asserts only that the writes succeed.
func TestMeasureOpsPerSecond(t *testing.T) {
	const n, rounds = 2000, 3
	ops := measureOps(n)
	paths := []writePath{
		{"moby/ipvs, 1 per round trip", func(ops []model.Op) error {
			for _, op := range ops {
				if err := applySingle(op); err != nil {
					return err
				}
			}
			return nil
		}},
		{"raw netlink, 1 per round trip", func(ops []model.Op) error {
			for _, op := range ops {
				if err := kernel.ApplyBatch([]model.Op{op})[0]; err != nil {
					return err
				}
			}
			return nil
		}},
		{"ApplyBatch, 256 per write", func(ops []model.Op) error {
			for _, err := range kernel.ApplyBatch(ops) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	reset(t)
	best := make([][]time.Duration, len(paths))
	for p := range paths {
		best[p] = make([]time.Duration, len(measureKinds))
	}
	for range rounds {
		for p, path := range paths {
			for k, kind := range measureKinds {
				start := time.Now()
				if err := path.apply(ops[kind]); err != nil {
					t.Fatalf("%s, %s: %v", path.name, kind, err)
				}
				if d := time.Since(start); best[p][k] == 0 || d < best[p][k] {
					best[p][k] = d
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IPVS writes per second, best of %d rounds of %d operations:\n%-32s", rounds, n, "")
	for _, kind := range measureKinds {
		fmt.Fprintf(&b, "%24s", kind)
	}
	for p, path := range paths {
		fmt.Fprintf(&b, "\n%-32s", path.name)
		for k := range measureKinds {
			fmt.Fprintf(&b, "%24.0f", float64(n)/best[p][k].Seconds())
		}
	}
	t.Log(b.String())
}

// measureOps builds n operations of each measured kind: n virtual servers
// with one real server each. One real server per virtual server: the kernel
// finds a destination by walking its service's list, so piling them on one
// service would measure that walk rather than the write path.
func measureOps(n int) map[model.OpKind][]model.Op {
	ops := map[model.OpKind][]model.Op{}
	va, ra := netip.MustParseAddr("198.18.32.0"), netip.MustParseAddr("198.18.64.0")
	for range n {
		vs := makeVS(va.String(), 80)
		rs := model.RealServer{RSKey: model.RSKey{Addr: ra, Port: 8080}, Weight: 1}
		va, ra = va.Next(), ra.Next()
		drained := rs
		drained.Weight = 0
		ops[model.OpAddVirtualServer] = append(ops[model.OpAddVirtualServer], model.Op{Kind: model.OpAddVirtualServer, VS: vs})
		ops[model.OpAddRealServer] = append(ops[model.OpAddRealServer], model.Op{Kind: model.OpAddRealServer, VS: vs, RS: rs})
		ops[model.OpUpdateRealServer] = append(ops[model.OpUpdateRealServer], model.Op{Kind: model.OpUpdateRealServer, VS: vs, RS: drained})
		ops[model.OpDeleteRealServer] = append(ops[model.OpDeleteRealServer], model.Op{Kind: model.OpDeleteRealServer, VS: vs, RS: rs})
		ops[model.OpDeleteVirtualServer] = append(ops[model.OpDeleteVirtualServer], model.Op{Kind: model.OpDeleteVirtualServer, VS: vs})
	}
	return ops
}

// applySingle performs one operation through the single-call methods
// (moby/ipvs).
func applySingle(op model.Op) error {
	switch op.Kind {
	case model.OpAddVirtualServer:
		return kernel.AddVirtualServer(op.VS)
	case model.OpAddRealServer:
		return kernel.AddRealServer(op.VS.VSKey, op.RS)
	case model.OpUpdateRealServer:
		return kernel.UpdateRealServer(op.VS.VSKey, op.RS)
	case model.OpDeleteRealServer:
		return kernel.DeleteRealServer(op.VS.VSKey, op.RS.RSKey)
	case model.OpDeleteVirtualServer:
		return kernel.DeleteVirtualServer(op.VS.VSKey)
	}
	return fmt.Errorf("unmeasured kind %s", op.Kind)
}

// TestMeasureTableSizes prints what writing, reading and deleting a whole
// table of N virtual servers with 10 real servers each costs through the
// daemon's adapter paths: the batched write of every add (the cold-sync
// ceiling of issue 8), timed per tenth of the table; the full list Full
// does; the parts the paced repair reads (the virtual servers alone; the
// real servers of 500); and the batched delete of every virtual server (a
// removed service, the cleanup), per tenth. Beyond the CI size it also
// prints the kernel's memory for the table (/proc/meminfo and the slab
// caches that grew) and the time its rate estimator takes while the full
// table sits idle. It asserts
// that every write succeeds and that the lists return exactly the table
// written, and nothing once it is deleted.
//
// By default it measures 1,000; IPVS_MEASURE_LARGE=1 adds 10,000;
// IPVS_MEASURE_SIZE=N measures N alone. Sizes after the first run slower:
// the deleted destinations stay in the kernel's destination trash for
// minutes, and every later real-server add searches that list (the
// package's other tests then took 186 s, not 12). So a figure for the
// docs comes from one size alone in a fresh VM.
func TestMeasureTableSizes(t *testing.T) {
	for _, n := range tableSizes(t) {
		measureTable(t, n)
	}
}

// tableSizes returns the sizes the environment asks for.
func tableSizes(t *testing.T) []int {
	if s := os.Getenv("IPVS_MEASURE_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < tableSlices || n > tableMax {
			t.Fatalf("IPVS_MEASURE_SIZE=%q: want a number of virtual servers from %d to %d", s, tableSlices, tableMax)
		}
		return []int{n}
	}
	if os.Getenv("IPVS_MEASURE_LARGE") == "1" {
		return []int{tableSmall, 10000}
	}
	return []int{tableSmall}
}

// TestMeasureReaddAfterFlush prints how long re-adding a whole table takes
// right after it was deleted (ipvsadm -C, then a proxy repairing it), and
// after the deleted destinations left the kernel's trash: every added
// destination is first looked up in the trash list (ip_vs_trash_get_dest),
// which holds each deleted destination for a couple of minutes. It runs
// only with IPVS_MEASURE_LARGE=1 (10,000 × 10) or IPVS_MEASURE_READD=N
// (N virtual servers × 10) and asserts only that the writes succeed.
func TestMeasureReaddAfterFlush(t *testing.T) {
	n := 0
	switch {
	case os.Getenv("IPVS_MEASURE_LARGE") == "1":
		n = 10000
	case os.Getenv("IPVS_MEASURE_READD") != "":
		fmt.Sscan(os.Getenv("IPVS_MEASURE_READD"), &n)
	}
	if n == 0 {
		t.Skip("IPVS_MEASURE_LARGE=1 or IPVS_MEASURE_READD=N measures it")
	}
	reset(t)
	ops := tableAdds(0, n)
	apply := func(what string) time.Duration {
		start := time.Now()
		for i, err := range kernel.ApplyBatch(ops) {
			if err != nil {
				t.Fatalf("%s: op %d (%s): %v", what, i, ops[i], err)
			}
		}
		return time.Since(start)
	}
	first := apply("first add")
	reset(t)
	again := apply("re-add right after the delete")
	t.Logf("%d×10: ApplyBatch of %d operations into an empty table %v; right after deleting them all %v",
		n, len(ops), first.Round(time.Millisecond), again.Round(time.Millisecond))
	reset(t)
}
