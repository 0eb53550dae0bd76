//go:build vmtest

package addr_test

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
)

// The measurements below run only when IPVS_MEASURE_ADDRS lists sizes
// (IPVS_MEASURE_ADDRS=10000,30000), each size in a fresh namespace.
// IPVS_MEASURE_ADDRS_BUDGET (a Go duration) stops adding once the adds of
// one size took that long, after the tenth under way: at 100,000 under TCG
// the later tenths can take many minutes, and the first ones show the trend.
// The budget applies to the adds and to the deletes separately.
// They assert that every add and delete succeeds and the counts read back.

// measureFirst is the first measured address; 100,000 from it stay in
// 198.18.0.0/15 and below 198.19.255.0/24 (the VM's eth0).
var measureFirst = ip("198.18.0.1")

// measureSizes returns the sizes IPVS_MEASURE_ADDRS asks for, or skips.
func measureSizes(t *testing.T) []int {
	s := os.Getenv("IPVS_MEASURE_ADDRS")
	if s == "" {
		t.Skip("IPVS_MEASURE_ADDRS=N[,N...] measures it")
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 10 || n > 120000 {
			t.Fatalf("IPVS_MEASURE_ADDRS=%q: want sizes from 10 to 120000", s)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// measureBudget returns IPVS_MEASURE_ADDRS_BUDGET, or no limit.
func measureBudget(t *testing.T) time.Duration {
	s := os.Getenv("IPVS_MEASURE_ADDRS_BUDGET")
	if s == "" {
		return 1<<63 - 1
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("IPVS_MEASURE_ADDRS_BUDGET=%q: %v", s, err)
	}
	return d
}

// measureAddrs returns n consecutive IPv4 addresses from measureFirst.
func measureAddrs(n int) []netip.Addr { return consecutive(measureFirst, n) }

// consecutive returns n consecutive addresses from x.
func consecutive(x netip.Addr, n int) []netip.Addr {
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = x
		x = x.Next()
	}
	return addrs
}

// inTenths calls do on each tenth of addrs in order, logs each tenth's
// time and rate, and stops after the tenth during which the total passed
// budget. It returns how many addresses do was called on.
func inTenths(t *testing.T, what string, addrs []netip.Addr, budget time.Duration, do func([]netip.Addr)) int {
	t.Helper()
	step := len(addrs) / 10
	var total time.Duration
	done := 0
	for k := 0; k < 10 && total < budget; k++ {
		end := done + step
		if k == 9 {
			end = len(addrs)
		}
		start := time.Now()
		do(addrs[done:end])
		took := time.Since(start)
		total += took
		t.Logf("%s tenth %d (addresses %d..%d): %v, %.0f/s", what, k+1,
			done, end, took.Round(time.Millisecond), float64(end-done)/took.Seconds())
		done = end
	}
	t.Logf("%s %d: %v (%.0f/s)", what, done, total.Round(time.Millisecond), float64(done)/total.Seconds())
	return done
}

// TestMeasureBindAddrs binds N IPv4 addresses the daemon's way (BindAll,
// 256 per netlink write), a tenth at a time, lists them and unbinds them
// one request each (deleting the interface with what the budget left),
// timing every tenth: a rate that falls as the table fills shows a
// per-address cost growing with it. Since 180cdd1 the adapter binds IPv4
// addresses as local routes; the figures of addresses on kube-ipvs0 in
// docs/performance.md were measured before, with addresses.
func TestMeasureBindAddrs(t *testing.T) {
	for _, size := range measureSizes(t) {
		t.Run(strconv.Itoa(size), func(t *testing.T) { measureBind(t, "IPv4", measureAddrs(size)) })
	}
}

// measureBind binds, lists and unbinds addrs, every tenth timed.
func measureBind(t *testing.T, family string, addrs []netip.Addr) {
	n := netnstest.New(t)
	a := ensured(t, n)
	bound := inTenths(t, "BindAll "+family, addrs, measureBudget(t), func(part []netip.Addr) {
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
	unbound := inTenths(t, "Unbind "+family, addrs, measureBudget(t), func(part []netip.Addr) {
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

// TestMeasureLocalRoutes measures the alternative to binding: one local
// route per address in the local table (what `ip route add local X/32 dev
// kube-ipvs0 table local` writes), through vishvananda/netlink, one
// request per round trip. The kernel then accepts X as local without X on
// any device's address list. It checks that a socket can bind X and
// receive what is sent to it, which source a local client gets, and that
// no address appears on the device.
func TestMeasureLocalRoutes(t *testing.T) {
	for _, size := range measureSizes(t) {
		t.Run(strconv.Itoa(size), func(t *testing.T) { measureRoutes(t, size) })
	}
}

func measureRoutes(t *testing.T, size int) {
	n := netnstest.New(t)
	a := ensured(t, n)
	index := n.Link(t, addr.DefaultInterface).Attrs().Index
	addrs := measureAddrs(size)
	routed := inTenths(t, "RouteAdd local", addrs, measureBudget(t), func(part []netip.Addr) {
		for _, x := range part {
			if err := n.NL.RouteAdd(localRoute(index, x)); err != nil {
				t.Fatalf("RouteAdd local %s: %v", x, err)
			}
		}
	})
	addrs = addrs[:routed]
	start := time.Now()
	local := countLocalRoutes(t, n)
	t.Logf("RouteList local table (%d local /32s of ours): %v", local, time.Since(start).Round(time.Millisecond))
	if local != routed {
		t.Fatalf("%d local routes of ours in the local table, want %d", local, routed)
	}
	if got := list(t, a); len(got) != 0 {
		t.Errorf("%d addresses on %s, want none", len(got), addr.DefaultInterface)
	}
	checkLocal(t, n, addrs[len(addrs)-1])
	inTenths(t, "RouteDel local", addrs, 1<<63-1, func(part []netip.Addr) {
		for _, x := range part {
			if err := n.NL.RouteDel(localRoute(index, x)); err != nil {
				t.Fatalf("RouteDel local %s: %v", x, err)
			}
		}
	})
	if local := countLocalRoutes(t, n); local != 0 {
		t.Errorf("%d local routes of ours left after RouteDel", local)
	}
}

// localRoute is the route the kernel itself adds for an address bound to
// the link index: type local, host scope, in the local table, with the
// address as preferred source.
func localRoute(index int, x netip.Addr) *netlink.Route {
	return &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: x.AsSlice(), Mask: net.CIDRMask(32, 32)},
		Src:       x.AsSlice(),
		Table:     unix.RT_TABLE_LOCAL,
		Type:      unix.RTN_LOCAL,
		Scope:     netlink.SCOPE_HOST,
		Protocol:  unix.RTPROT_KERNEL,
	}
}

// countLocalRoutes counts the local /32 routes to measured addresses in the
// local table (in 198.18.0.0/15, where the namespace has nothing else).
func countLocalRoutes(t *testing.T, n *netnstest.NetNS) int {
	t.Helper()
	routes, err := n.NL.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	ours := netip.MustParsePrefix("198.18.0.0/15")
	count := 0
	for _, r := range routes {
		if r.Type != unix.RTN_LOCAL || r.Dst == nil {
			continue
		}
		d, _ := netip.AddrFromSlice(r.Dst.IP)
		if ones, _ := r.Dst.Mask.Size(); ones == 32 && ours.Contains(d.Unmap()) {
			count++
		}
	}
	return count
}

// checkLocal proves x, routed locally but bound nowhere, is local: a UDP
// socket binds it and receives from a local client, whose source is logged.
func checkLocal(t *testing.T, n *netnstest.NetNS, x netip.Addr) {
	t.Helper()
	n.Do(t, func() {
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(x, 9999))
		srv, err := net.ListenUDP("udp", to)
		if err != nil {
			t.Fatalf("binding a socket to %s (local route only): %v", x, err)
		}
		defer srv.Close()
		cli, err := net.DialUDP("udp", nil, to)
		if err != nil {
			t.Fatalf("dialing %s: %v", x, err)
		}
		defer cli.Close()
		if _, err := cli.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 8)
		k, from, err := srv.ReadFromUDP(buf)
		if err != nil || string(buf[:k]) != "hi" {
			t.Fatalf("receiving on %s: %q, %v", x, buf[:k], err)
		}
		t.Logf("%s is local with a route only; a local client's source: %s", x, from.IP)
	})
}
