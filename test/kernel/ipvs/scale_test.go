//go:build vmtest

package ipvs_test

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// nthAddr returns the address i places after base (IPv4 or IPv6), in
// constant time: the 1M-destination measurement numbers 100,000 of them.
func nthAddr(base string, i int) netip.Addr {
	b := netip.MustParseAddr(base).As16()
	carry := uint64(i)
	for k := len(b) - 1; k >= 0 && carry > 0; k-- {
		sum := uint64(b[k]) + carry&0xff
		b[k], carry = byte(sum), carry>>8+sum>>8
	}
	a := netip.AddrFrom16(b)
	if netip.MustParseAddr(base).Is4() {
		return a.Unmap()
	}
	return a
}

// TestDumpTenThousandReals lists one virtual server with 10,000 real
// servers: the destination dump spans many netlink messages. The reals are
// added through moby/ipvs one request at a time, which also shows that the
// kernel's cost of adding a destination grows with the service's size.
func TestDumpTenThousandReals(t *testing.T) {
	reset(t)
	const n = 10000
	vs := makeVS("198.18.0.10", 80)
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	want := &model.Service{VirtualServer: vs}
	start := time.Now()
	a := netip.MustParseAddr("198.18.64.0")
	for i := range n {
		rs := model.RealServer{RSKey: model.RSKey{Addr: a, Port: 8080}, Weight: int32(i % 2)}
		if err := kernel.AddRealServer(vs.VSKey, rs); err != nil {
			t.Fatalf("AddRealServer #%d: %v", i, err)
		}
		want.Reals = append(want.Reals, rs)
		a = a.Next()
		if i == n/10-1 {
			t.Logf("Added the first %d real servers in %s", n/10, time.Since(start))
		}
	}
	added := time.Since(start)
	start = time.Now()
	list(t)
	t.Logf("Added %d real servers in %s; ListServices took %s", n, added, time.Since(start))
	checkTable(t, want)

	start = time.Now()
	st, err := kernel.RealServerStats(vs.VSKey)
	if err != nil || len(st) != n {
		t.Fatalf("RealServerStats: %d entries, %v; want %d", len(st), err, n)
	}
	t.Logf("Read the counters of %d real servers in %s", n, time.Since(start))
}

// TestDumpManyServices lists 3,000 virtual servers of both families with two
// real servers each: the service dump spans many messages too.
func TestDumpManyServices(t *testing.T) {
	reset(t)
	start := time.Now()
	want := addServices(t, kernel, 3000)
	t.Logf("Added %d services and %d real servers in one ApplyBatch call in %s", len(want), 2*len(want), time.Since(start))
	start = time.Now()
	list(t)
	t.Logf("Listed %d services (one service dump, %d destination dumps) in %s", len(want), len(want), time.Since(start))
	checkTable(t, want...)

	// The periodic repair reads the same table in parts: the virtual servers
	// alone, then the real servers of some of them at a time.
	start = time.Now()
	vss, err := kernel.ListVirtualServers()
	if err != nil || len(vss) != len(want) {
		t.Fatalf("ListVirtualServers: %d, %v; want %d", len(vss), err, len(want))
	}
	t.Logf("Listed %d virtual servers without real servers (one dump) in %s", len(vss), time.Since(start))
	if !slices.IsSortedFunc(vss, func(a, b model.VirtualServer) int { return a.Compare(b.VSKey) }) {
		t.Errorf("ListVirtualServers did not sort by key")
	}
	start = time.Now()
	for _, s := range want[:500] {
		reals, err := kernel.ListRealServers(s.VSKey)
		if err != nil || !slices.Equal(reals, s.Reals) {
			t.Fatalf("ListRealServers(%s): %v, %v; want %v", s.VSKey, reals, err, s.Reals)
		}
	}
	t.Logf("Listed the real servers of 500 virtual servers (500 dumps) in %s", time.Since(start))
	missing := makeVS("198.18.250.1", 1)
	if reals, err := kernel.ListRealServers(missing.VSKey); err != nil || len(reals) != 0 {
		t.Errorf("ListRealServers(missing %s) = %v, %v; want empty, nil", missing.VSKey, reals, err)
	}
}

// addServices adds n virtual servers (alternately IPv4 and IPv6) with two
// distinct real servers each, in one ApplyBatch call, and returns them.
func addServices(t *testing.T, k ipvs.Interface, n int) []*model.Service {
	t.Helper()
	var out []*model.Service
	var ops []model.Op
	next := map[string]netip.Addr{}
	for _, b := range []string{"198.18.32.0", "198.18.128.0", "fd00::a:0", "fd00::b:0"} {
		next[b] = netip.MustParseAddr(b)
	}
	take := func(base string) netip.Addr {
		a := next[base]
		next[base] = a.Next()
		return a
	}
	for i := range n {
		base, rbase := "198.18.32.0", "198.18.128.0"
		if i%2 == 1 {
			base, rbase = "fd00::a:0", "fd00::b:0"
		}
		vs := model.VirtualServer{VSKey: model.VSKey{Addr: take(base), Port: 80, Proto: model.TCP}, Scheduler: "rr"}
		ops = append(ops, model.Op{Kind: model.OpAddVirtualServer, VS: vs})
		s := &model.Service{VirtualServer: vs}
		for range 2 {
			rs := model.RealServer{RSKey: model.RSKey{Addr: take(rbase), Port: 8080}, Weight: 1}
			ops = append(ops, model.Op{Kind: model.OpAddRealServer, VS: vs, RS: rs})
			s.Reals = append(s.Reals, rs)
		}
		out = append(out, s)
	}
	if err := errors.Join(k.ApplyBatch(ops)...); err != nil {
		t.Fatalf("adding %d services: %v", n, err)
	}
	return out
}

// TestListDuringConcurrentChanges lists while another netlink socket (a
// second Kernel, standing for another program) adds and deletes virtual
// servers. IPVS dumps resume by position and do not flag interruptions, so
// a concurrent change can shift entries; every list must still succeed
// (retried on a duplicate, deduplicated after the last retry) and never
// return a duplicate.
func TestListDuringConcurrentChanges(t *testing.T) {
	reset(t)
	stable := addServices(t, kernel, 300)
	other, err := ipvs.New()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var churn int
	// Stops the churn before other.Close runs, also when a check fails.
	defer func() { stop.Store(true); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			vs := makeVS("198.18.200.0", uint16(1+i%500))
			if err := other.AddVirtualServer(vs); err != nil && !errors.Is(err, ipvs.ErrExists) {
				t.Errorf("concurrent AddVirtualServer: %v", err)
				return
			}
			if err := other.DeleteVirtualServer(vs.VSKey); err != nil {
				t.Errorf("concurrent DeleteVirtualServer: %v", err)
				return
			}
			churn++
		}
	}()
	lists, missing := 0, 0
	for ; lists < 5; lists++ {
		got, err := kernel.ListServices()
		if err != nil {
			t.Fatalf("ListServices during churn: %v", err)
		}
		seen := map[model.VSKey]bool{}
		for _, s := range got {
			if seen[s.VSKey] {
				t.Fatalf("duplicate %s in one list", s.VSKey)
			}
			seen[s.VSKey] = true
		}
		for _, s := range stable {
			if !seen[s.VSKey] {
				missing++
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("Listed %d times during %d concurrent add+delete pairs; stable services missed by a list: %d", lists, churn, missing)
}
