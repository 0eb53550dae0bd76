//go:build vmtest

package addr_test

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
)

// measureFirst6 is the first measured IPv6 address (fd00::/8).
var measureFirst6 = ip("fd00:198:18::1")

// TestMeasureBindAddrs6 is TestMeasureBindAddrs for IPv6, which stays an
// address on kube-ipvs0 (a /128 without duplicate address detection or
// prefix route, BindAll): N addresses bound a tenth at a time, listed, and
// unbound one request each, every tenth timed. Sizes and budget come from
// IPVS_MEASURE_ADDRS and IPVS_MEASURE_ADDRS_BUDGET, as there.
func TestMeasureBindAddrs6(t *testing.T) {
	for _, size := range measureSizes(t) {
		t.Run(strconv.Itoa(size), func(t *testing.T) { measureBind6(t, size) })
	}
}

func measureBind6(t *testing.T, size int) {
	n := netnstest.New(t)
	a := ensured(t, n)
	addrs := make([]netip.Addr, size)
	for i, x := 0, measureFirst6; i < size; i, x = i+1, x.Next() {
		addrs[i] = x
	}
	bound := inTenths(t, "BindAll IPv6", addrs, measureBudget(t), func(part []netip.Addr) {
		for i, err := range a.BindAll(part) {
			if err != nil {
				t.Fatalf("BindAll: %s: %v", part[i], err)
			}
		}
	})
	addrs = addrs[:bound]
	start := time.Now()
	got := list(t, a)
	t.Logf("List %d: %v", len(got), time.Since(start).Round(time.Millisecond))
	if !equal(got, addrs) {
		t.Fatalf("List returned %d addresses, want the %d bound", len(got), bound)
	}
	unbound := inTenths(t, "Unbind IPv6", addrs, measureBudget(t), func(part []netip.Addr) {
		for _, x := range part {
			if err := a.Unbind(x); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := list(t, a); !equal(got, addrs[unbound:]) {
		t.Fatalf("%d addresses left after Unbind, want %d", len(got), len(addrs)-unbound)
	}
	if unbound < len(addrs) { // out of budget: the rest go with the interface
		start := time.Now()
		if err := a.DeleteInterface(); err != nil {
			t.Fatal(err)
		}
		t.Logf("DeleteInterface with %d addresses: %v", len(addrs)-unbound, time.Since(start).Round(time.Millisecond))
	}
}
