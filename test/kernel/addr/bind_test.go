//go:build vmtest

package addr_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
)

// TestBindListUnbind checks binding both families (twice), what the kernel
// then holds (IPv4: our local route, no address; IPv6: a host address
// without DAD; one local route in the local table and no route in the main
// table), and unbinding.
func TestBindListUnbind(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	v4, v4b, v6 := ip("198.18.40.10"), ip("198.18.40.1"), ip("fd00:40::10")
	for _, x := range []netip.Addr{v6, v4, v4b, v4} {
		if err := a.Bind(x); err != nil {
			t.Fatalf("Bind(%s): %v", x, err)
		}
	}
	if got, want := list(t, a), []netip.Addr{v4b, v4, v6}; !equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}

	for _, x := range []netip.Addr{v4, v4b, v6} {
		checkForm(t, n, x)
	}
	for _, x := range []netip.Addr{v4, v6} {
		waitLocalRoute(t, n, x)
		local, main := routesTo(t, n, x)
		if local != 1 {
			t.Errorf("%s: %d local routes in the local table, want 1", x, local)
		}
		if main != 0 {
			t.Errorf("%s: %d routes in the main table, want none", x, main)
		}
	}

	if err := a.Unbind(v4); err != nil {
		t.Fatal(err)
	}
	if err := a.Unbind(v4); err != nil {
		t.Errorf("Unbind of an unbound address = %v, want nil", err)
	}
	if err := a.Unbind(v6); err != nil {
		t.Fatal(err)
	}
	if got, want := list(t, a), []netip.Addr{v4b}; !equal(got, want) {
		t.Errorf("List after Unbind = %v, want %v", got, want)
	}
	if local, _ := routesTo(t, n, v4); local != 0 {
		t.Errorf("local route to %s left after Unbind", v4)
	}
}

// checkForm checks the form x is bound in: an IPv4 address as our local
// route only (proto addr.RouteProtocol, the address as preferred source,
// through lo), an IPv6 address as a /128 on the dummy without DAD nor
// prefix route.
func checkForm(t *testing.T, n *netnstest.NetNS, x netip.Addr) {
	t.Helper()
	dummy := n.Link(t, addr.DefaultInterface)
	kaddrs, err := n.NL.AddrList(dummy, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var onDummy []netlink.Addr
	for _, k := range kaddrs {
		if a, _ := netip.AddrFromSlice(k.IP); a.Unmap() == x {
			onDummy = append(onDummy, k)
		}
	}
	ours := ourRoutes(t, n, x)
	if x.Is4() {
		if len(onDummy) != 0 || len(ours) != 1 {
			t.Fatalf("%s: %d addresses on the dummy and %d routes of ours, want 0 and 1", x, len(onDummy), len(ours))
		}
		r := ours[0]
		if src, _ := netip.AddrFromSlice(r.Src); src.Unmap() != x || r.LinkIndex != n.Link(t, "lo").Attrs().Index || r.Scope != netlink.SCOPE_HOST {
			t.Errorf("%s: route %+v, want source %s through lo, scope host", x, r, x)
		}
		return
	}
	if len(onDummy) != 1 || len(ours) != 0 {
		t.Fatalf("%s: %d addresses on the dummy and %d routes of ours, want 1 and 0", x, len(onDummy), len(ours))
	}
	k := onDummy[0]
	if ones, bits := k.Mask.Size(); ones != bits {
		t.Errorf("%s bound as /%d, want a host prefix", k.IP, ones)
	}
	if k.Flags&unix.IFA_F_NODAD == 0 || k.Flags&unix.IFA_F_NOPREFIXROUTE == 0 || k.Flags&unix.IFA_F_TENTATIVE != 0 {
		t.Errorf("%s flags %#x: want NODAD and NOPREFIXROUTE and not tentative", k.IP, k.Flags)
	}
}

// ourRoutes returns the local-table routes of addr.RouteProtocol to x.
func ourRoutes(t *testing.T, n *netnstest.NetNS, x netip.Addr) []netlink.Route {
	t.Helper()
	routes, err := n.NL.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_LOCAL, Protocol: addr.RouteProtocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(routes, func(r netlink.Route) bool {
		d, _ := netip.AddrFromSlice(r.Dst.IP)
		return d.Unmap() != x
	})
}

// routesTo counts the local-table local routes and the main-table routes
// whose destination is exactly x.
func routesTo(t *testing.T, n *netnstest.NetNS, x netip.Addr) (local, main int) {
	t.Helper()
	fam := netlink.FAMILY_V4
	if x.Is6() {
		fam = netlink.FAMILY_V6
	}
	for _, table := range []int{unix.RT_TABLE_LOCAL, unix.RT_TABLE_MAIN} {
		routes, err := n.NL.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			ones, bits := r.Dst.Mask.Size()
			d, _ := netip.AddrFromSlice(r.Dst.IP)
			if d.Unmap() != x || ones != bits {
				continue
			}
			if table == unix.RT_TABLE_LOCAL && r.Type == unix.RTN_LOCAL {
				local++
			} else if table == unix.RT_TABLE_MAIN {
				main++
			}
		}
	}
	return local, main
}

// waitLocalRoute waits up to 5s for the local route to x.
func waitLocalRoute(t *testing.T, n *netnstest.NetNS, x netip.Addr) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if local, _ := routesTo(t, n, x); local > 0 {
			if d := time.Since(start); d > 0 {
				t.Logf("local route to %s after %v", x, d.Round(time.Millisecond))
			}
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no local route to %s 5s after Bind", x)
		}
	}
}

// TestBoundAddressIsLocal proves what the dummy is for: with the interface
// down, a bound address is local, for both families (a socket binds to it
// and receives what is sent to it).
func TestBoundAddressIsLocal(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	for _, x := range []netip.Addr{ip("198.18.40.10"), ip("fd00:40::10")} {
		if err := a.Bind(x); err != nil {
			t.Fatal(err)
		}
		// IPv6 installs an address's local route from a work queue
		// (addrconf's DAD work, even with IFA_F_NODAD): for a moment after
		// Bind returns, the address is listed but not yet routed locally.
		waitLocalRoute(t, n, x)
		n.Do(t, func() {
			srv, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(x, 9999)))
			if err != nil {
				t.Fatalf("binding a socket to %s: %v", x, err)
			}
			defer srv.Close()
			cli, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(x, 9999)))
			if err != nil {
				t.Fatalf("dialing %s: %v", x, err)
			}
			defer cli.Close()
			if _, err := cli.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 8)
			if k, err := srv.Read(buf); err != nil || string(buf[:k]) != "hi" {
				t.Errorf("receiving on %s: %q, %v", x, buf[:k], err)
			}
		})
	}
	if n.Link(t, addr.DefaultInterface).Attrs().Flags&net.FlagUp != 0 {
		t.Error("interface came up")
	}
}

// TestUnbindOtherPrefix checks an address someone bound with a subnet
// prefix is listed and can be unbound.
func TestUnbindOtherPrefix(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	n.AddAddr(t, addr.DefaultInterface, "198.18.41.5/24")
	n.AddAddr(t, addr.DefaultInterface, "fd00:41::5/64")
	if got, want := list(t, a), []netip.Addr{ip("198.18.41.5"), ip("fd00:41::5")}; !equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, x := range []netip.Addr{ip("198.18.41.5"), ip("fd00:41::5")} {
		if err := a.Unbind(x); err != nil {
			t.Errorf("Unbind(%s): %v", x, err)
		}
	}
	if got := list(t, a); len(got) != 0 {
		t.Errorf("List after Unbind = %v, want empty", got)
	}
}

// TestBindMany binds and unbinds a few thousand addresses and reports the
// rate (one netlink request per address).
func TestBindMany(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	const count = 2000
	addrs := make([]netip.Addr, count)
	x := ip("198.18.128.0")
	for i := range addrs {
		addrs[i] = x
		x = x.Next()
	}
	start := time.Now()
	for _, x := range addrs {
		if err := a.Bind(x); err != nil {
			t.Fatal(err)
		}
	}
	bindTook := time.Since(start)
	start = time.Now()
	got := list(t, a)
	listTook := time.Since(start)
	if !equal(got, addrs) {
		t.Fatalf("List returned %d addresses, want %d", len(got), count)
	}
	start = time.Now()
	for _, x := range addrs {
		if err := a.Unbind(x); err != nil {
			t.Fatal(err)
		}
	}
	unbindTook := time.Since(start)
	if got := list(t, a); len(got) != 0 {
		t.Errorf("%d addresses left", len(got))
	}
	t.Logf("bind %d: %v (%.0f/s); list: %v; unbind: %v (%.0f/s)", count, bindTook,
		count/bindTook.Seconds(), listTook, unbindTook, count/unbindTook.Seconds())
}

// TestBindAll binds a few thousand addresses of both families in batches,
// one of them already bound and one that can never be bound, and reports
// the rate against TestBindMany's one request per address.
func TestBindAll(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	const count = 2000
	var addrs []netip.Addr
	v4, v6 := ip("198.18.128.0"), ip("fd00:128::")
	for i := range count {
		if i%4 == 3 {
			addrs = append(addrs, v6)
			v6 = v6.Next()
		} else {
			addrs = append(addrs, v4)
			v4 = v4.Next()
		}
	}
	if err := a.Bind(addrs[700]); err != nil { // already bound: not an error
		t.Fatal(err)
	}
	bad := ip("fe80::1") // link-local: refused before reaching the kernel
	start := time.Now()
	errs := a.BindAll(append(slices.Clone(addrs), bad))
	took := time.Since(start)
	for i, err := range errs[:count] {
		if err != nil {
			t.Fatalf("BindAll: %s: %v", addrs[i], err)
		}
	}
	if errs[count] == nil {
		t.Errorf("BindAll bound %s", bad)
	}
	want := slices.Clone(addrs)
	slices.SortFunc(want, netip.Addr.Compare)
	if got := list(t, a); !equal(got, want) {
		t.Fatalf("List returned %d addresses, want %d", len(got), count)
	}
	// Batched binds have Bind's form.
	for _, x := range []netip.Addr{addrs[0], addrs[3], addrs[700]} {
		checkForm(t, n, x)
	}
	waitLocalRoute(t, n, addrs[count-1])
	t.Logf("BindAll %d: %v (%.0f/s)", count, took, count/took.Seconds())

	// Without the interface every address gets ErrInterfaceNotFound.
	if err := a.DeleteInterface(); err != nil {
		t.Fatal(err)
	}
	for _, err := range a.BindAll(addrs[:3]) {
		if !errors.Is(err, addr.ErrInterfaceNotFound) {
			t.Errorf("BindAll without the interface: %v", err)
		}
	}
}
