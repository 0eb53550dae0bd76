//go:build vmtest

package ipvs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

const (
	// tableReals is how many real servers each virtual server of a measured
	// table has.
	tableReals = 10
	// tableRealAddrs is how many real-server addresses a measured table
	// spreads over (198.19.0.1 onwards): up to that many virtual servers each
	// has its own address with ports 8080-8089, beyond it the addresses are
	// reused with the next ten ports. 1,000,000 destinations thus stay inside
	// 198.19.0.0/16, below the VM's 198.19.255.0/24 and off the /16's
	// broadcast address, which IPVS refuses as a destination (EINVAL).
	tableRealAddrs = 50000
	// tableSlices is how many slices the writes are timed in, to show
	// whether the rate falls as the table grows (the kernel finds a service
	// in a fixed 256-bucket hash, so each lookup walks N/256 entries).
	tableSlices = 10
	// tableSmall is the size measured by default (in CI).
	tableSmall = 1000
	// tableMax is the largest size: virtual-server addresses, from
	// 198.18.64.0 on, stay below the VM's 198.19.255.0/24.
	tableMax = 100000
)

// tableVS returns the i-th virtual server of a measured table.
func tableVS(i int) model.VirtualServer {
	return model.VirtualServer{VSKey: model.VSKey{Addr: nthAddr("198.18.64.0", i), Port: 80, Proto: model.TCP}, Scheduler: "rr"}
}

// tableReal returns the j-th real server of the i-th virtual server; a
// virtual server's real servers share one address, in port order.
func tableReal(i, j int) model.RealServer {
	port := 8080 + tableReals*(i/tableRealAddrs) + j
	return model.RealServer{RSKey: model.RSKey{Addr: nthAddr("198.19.0.1", i%tableRealAddrs), Port: uint16(port)}, Weight: 1}
}

// tableAdds returns the operations that add virtual servers from to to-1
// with their real servers, in the order a cold sync's plan has them.
func tableAdds(from, to int) []model.Op {
	ops := make([]model.Op, 0, (to-from)*(1+tableReals))
	for i := from; i < to; i++ {
		vs := tableVS(i)
		ops = append(ops, model.Op{Kind: model.OpAddVirtualServer, VS: vs})
		for j := range tableReals {
			ops = append(ops, model.Op{Kind: model.OpAddRealServer, VS: vs, RS: tableReal(i, j)})
		}
	}
	return ops
}

// tableDeletes returns the operations that delete virtual servers from to
// to-1, as the plan of a removed service has them: the kernel deletes the
// real servers with their virtual server.
func tableDeletes(from, to int) []model.Op {
	ops := make([]model.Op, 0, to-from)
	for i := from; i < to; i++ {
		ops = append(ops, model.Op{Kind: model.OpDeleteVirtualServer, VS: tableVS(i)})
	}
	return ops
}

// measureTable adds, reads and deletes one table of n virtual servers and
// logs the figures.
func measureTable(t *testing.T, n int) {
	reset(t)
	large := n > tableSmall
	var before kernelMem
	if large {
		before = readKernelMem(t)
	}
	adds, addOps := applySliced(t, n, tableAdds)
	t.Logf("%d×%d (%d destinations): ApplyBatch of every add, %d operations, %v (%.0f/s); per tenth, ops/s: %s",
		n, tableReals, n*tableReals, addOps, sum(adds).Round(time.Millisecond), rate(addOps, sum(adds)), sliceRates(n, 1+tableReals, adds))
	if large {
		t.Logf("%d×%d: kernel memory for the table: %s", n, tableReals, readKernelMem(t).growth(before, n*tableReals))
	}
	full, alone, chunk := measureReads(t, n)
	t.Logf("%d×%d: ListServices (Full) %v; ListVirtualServers %v; real servers of 500 %v",
		n, tableReals, full.Round(time.Millisecond), alone.Round(time.Millisecond), chunk.Round(time.Millisecond))
	if large {
		t.Logf("%d×%d: while the table sits idle, %s", n, tableReals, estimatorRuns(t, 10*time.Second))
	}
	dels, delOps := applySliced(t, n, tableDeletes)
	if vss, err := kernel.ListVirtualServers(); err != nil || len(vss) != 0 {
		t.Fatalf("after deleting every virtual server: %d listed, %v", len(vss), err)
	}
	t.Logf("%d×%d: ApplyBatch of every virtual server's delete, %d operations, %v (%.0f/s); per tenth, ops/s: %s; test process peak RSS %s",
		n, tableReals, delOps, sum(dels).Round(time.Millisecond), rate(delOps, sum(dels)), sliceRates(n, 1, dels), peakRSS(t))
}

// applySliced applies the operations build returns for the table's n
// virtual servers in tableSlices calls of ApplyBatch (each slice built
// before its clock starts), failing on any error. It returns each slice's
// time and the number of operations.
func applySliced(t *testing.T, n int, build func(from, to int) []model.Op) ([]time.Duration, int) {
	t.Helper()
	times := make([]time.Duration, tableSlices)
	total := 0
	for s := range tableSlices {
		ops := build(n*s/tableSlices, n*(s+1)/tableSlices)
		start := time.Now()
		errs := kernel.ApplyBatch(ops)
		times[s] = time.Since(start)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("slice %d, op %d (%s): %v", s, i, ops[i], err)
			}
		}
		total += len(ops)
	}
	return times, total
}

// measureReads times the three lists and checks each returned exactly the
// table tableAdds wrote (keys sort as they were numbered).
func measureReads(t *testing.T, n int) (full, alone, chunk time.Duration) {
	t.Helper()
	start := time.Now()
	all := list(t)
	full = time.Since(start)
	if len(all) != n {
		t.Fatalf("ListServices listed %d virtual servers, want %d", len(all), n)
	}
	for i, s := range all {
		want := make([]model.RealServer, tableReals)
		for j := range want {
			want[j] = tableReal(i, j)
		}
		if s.VirtualServer != tableVS(i) || !slices.Equal(s.Reals, want) {
			t.Fatalf("ListServices: entry %d is %s with %v, want %s with %v", i, s.VSKey, s.Reals, tableVS(i).VSKey, want)
		}
	}
	start = time.Now()
	vss, err := kernel.ListVirtualServers()
	alone = time.Since(start)
	if err != nil || len(vss) != n {
		t.Fatalf("ListVirtualServers: %d, %v", len(vss), err)
	}
	for i, vs := range vss {
		if vs != tableVS(i) {
			t.Fatalf("ListVirtualServers: entry %d is %s, want %s", i, vs.VSKey, tableVS(i).VSKey)
		}
	}
	start = time.Now()
	for _, s := range all[:min(500, n)] {
		if reals, err := kernel.ListRealServers(s.VSKey); err != nil || !slices.Equal(reals, s.Reals) {
			t.Fatalf("ListRealServers(%s): %v, %v; ListServices had %v", s.VSKey, reals, err, s.Reals)
		}
	}
	return full, alone, time.Since(start)
}

func sum(ds []time.Duration) time.Duration {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	return total
}

func rate(ops int, d time.Duration) float64 { return float64(ops) / d.Seconds() }

// sliceRates formats each slice's operations per second; a slice of the
// table's n virtual servers has perVS operations per virtual server.
func sliceRates(n, perVS int, times []time.Duration) string {
	out := make([]string, len(times))
	for s, d := range times {
		ops := (n*(s+1)/tableSlices - n*s/tableSlices) * perVS
		out[s] = fmt.Sprintf("%.0f", rate(ops, d))
	}
	return strings.Join(out, " ")
}
