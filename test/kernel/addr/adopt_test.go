//go:build vmtest

package addr_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

// TestAdoptBoundAddresses: IPv4 addresses bound the way kube-proxy (or an
// older ipvs-proxy) binds them, as addresses on the dummy, are adopted as
// they are: listed, already bound for Bind (no route of ours beside the
// kernel's), still local, and unbound by Unbind with their local route.
func TestAdoptBoundAddresses(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	old, fresh := ip("198.18.42.10"), ip("198.18.42.11")
	n.AddAddr(t, addr.DefaultInterface, "198.18.42.10/32")
	if err := a.Bind(fresh); err != nil {
		t.Fatal(err)
	}
	if got, want := list(t, a), []netip.Addr{old, fresh}; !equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if err := a.Bind(old); err != nil {
		t.Fatalf("Bind of an address bound by kube-proxy: %v", err)
	}
	if ours := ourRoutes(t, n, old); len(ours) != 0 {
		t.Errorf("Bind added a route of ours beside the kernel's for %s: %+v", old, ours)
	}
	checkLocal(t, n, old)
	checkForm(t, n, fresh)

	for _, x := range []netip.Addr{old, fresh} {
		if err := a.Unbind(x); err != nil {
			t.Fatalf("Unbind(%s): %v", x, err)
		}
		if local, _ := routesTo(t, n, x); local != 0 {
			t.Errorf("%s: %d local routes left after Unbind", x, local)
		}
	}
	if got := list(t, a); len(got) != 0 {
		t.Errorf("List after Unbind = %v, want empty", got)
	}
}

// TestBothForms: an address bound as our route to which someone (kube-proxy
// swapped back in) adds the address too is listed once, and Unbind, repeated
// as the engine repeats it while List still has the address, removes both.
func TestBothForms(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	x := ip("198.18.42.20")
	if err := a.Bind(x); err != nil {
		t.Fatal(err)
	}
	n.AddAddr(t, addr.DefaultInterface, "198.18.42.20/32")
	if got := list(t, a); !equal(got, []netip.Addr{x}) {
		t.Fatalf("List = %v, want [%s]", got, x)
	}
	for i := 0; len(list(t, a)) > 0; i++ {
		if i == 2 {
			t.Fatalf("%s still listed after two Unbinds", x)
		}
		if err := a.Unbind(x); err != nil {
			t.Fatal(err)
		}
	}
	if local, _ := routesTo(t, n, x); local != 0 {
		t.Errorf("%d local routes to %s left", local, x)
	}
}

// TestLastAdoptedAddressKeepsTheRoutes: when the last IPv4 address leaves
// a device the kernel deletes every IPv4 route through it, without a
// notification each. Unbinding the last address adopted from kube-proxy
// must leave the route-bound addresses local (our routes go through lo).
func TestLastAdoptedAddressKeepsTheRoutes(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	old, fresh := ip("198.18.42.30"), ip("198.18.42.31")
	n.AddAddr(t, addr.DefaultInterface, "198.18.42.30/32")
	if err := a.Bind(fresh); err != nil {
		t.Fatal(err)
	}
	if err := a.Unbind(old); err != nil {
		t.Fatal(err)
	}
	if got := list(t, a); !equal(got, []netip.Addr{fresh}) {
		t.Fatalf("List after unbinding the last adopted address = %v, want [%s]", got, fresh)
	}
	checkForm(t, n, fresh)
	checkLocal(t, n, fresh)
}

// TestDeleteInterfaceDeletesRoutes: DeleteInterface (our --cleanup) leaves
// no bound address behind, routes included, and nobody else's local route
// is touched.
func TestDeleteInterfaceDeletesRoutes(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	var addrs []netip.Addr
	for x, i := ip("198.18.43.1"), 0; i < 600; x, i = x.Next(), i+1 {
		addrs = append(addrs, x)
	}
	for _, err := range a.BindAll(addrs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	inNS(t, n, "ip", "route", "add", "table", "local", "local", "198.18.46.1", "dev", "lo", "proto", "static")
	if err := a.DeleteInterface(); err != nil {
		t.Fatal(err)
	}
	if local, _ := routesTo(t, n, addrs[599]); local != 0 {
		t.Errorf("%s still routed locally after DeleteInterface", addrs[599])
	}
	if rs := ourRoutes(t, n, addrs[0]); len(rs) != 0 {
		t.Errorf("our routes left: %+v", rs)
	}
	if local, _ := routesTo(t, n, ip("198.18.46.1")); local != 1 {
		t.Error("DeleteInterface deleted someone else's local route")
	}
}
