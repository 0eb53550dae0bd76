//go:build vmtest

package guest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Run in the VM: test/vm/gotest.sh ./test/e2e/guest -run Bound -v

const testDummy = "bound-test0"

// TestBindings binds addresses on an up dummy in both forms, and one as
// ipvs-proxy does (a protocol-107 local route through lo), next to routes
// that bind nothing, and reads them back: each address once, in the form it
// has.
func TestBindings(t *testing.T) {
	link := addDummy(t)
	other, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addAddr(t, link, "198.18.77.1/32")
	addAddr(t, link, "fd00:77::1/128")
	addAddr(t, link, "198.18.76.1/24") // not a host prefix: still an address
	addRoute(t, link, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.2/32", 107)
	addRoute(t, link, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "fd00:77::2/128", 107)
	addRoute(t, link, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.3/32", unix.RTPROT_STATIC)
	// ipvs-proxy's binding through lo.
	addRoute(t, other, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.9/32", 107)
	// Not bound: a local route that is not one host, a unicast route
	// through the dummy, someone else's local route through another
	// interface.
	addRoute(t, link, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.79.0/24", 107)
	addRoute(t, link, unix.RTN_UNICAST, unix.RT_TABLE_MAIN, "198.18.78.0/24", 107)
	addRoute(t, other, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.8/32", unix.RTPROT_STATIC)

	got, err := Bindings(testDummy)
	if err != nil {
		t.Fatal(err)
	}
	want := []Binding{
		{Prefix: netip.MustParsePrefix("198.18.76.1/24"), Form: AsAddress},
		{Prefix: netip.MustParsePrefix("198.18.77.1/32"), Form: AsAddress},
		{Prefix: netip.MustParsePrefix("198.18.77.2/32"), Form: AsRoute, Protocol: 107, Dev: testDummy},
		{Prefix: netip.MustParsePrefix("198.18.77.3/32"), Form: AsRoute, Protocol: unix.RTPROT_STATIC, Dev: testDummy},
		{Prefix: netip.MustParsePrefix("198.18.77.9/32"), Form: AsRoute, Protocol: 107, Dev: "lo"},
		{Prefix: netip.MustParsePrefix("fd00:77::1/128"), Form: AsAddress},
		{Prefix: netip.MustParsePrefix("fd00:77::2/128"), Form: AsRoute, Protocol: 107, Dev: testDummy},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Bindings(%s) (-want +got):\n%s", testDummy, diff)
	}
}

// TestUnbindRebind deletes each form by hand and over netlink, and puts
// it back: Unbind leaves nothing the kernel treats as local, Rebind the
// same binding.
func TestUnbindRebind(t *testing.T) {
	link := addDummy(t)
	// The kernel deletes every IPv4 route through an interface when its
	// last IPv4 address goes (fib_disable_ip): 198.18.76.1 stays, so that
	// deleting 198.18.77.1 deletes only it.
	addAddr(t, link, "198.18.76.1/24")
	addAddr(t, link, "198.18.77.1/32")
	addAddr(t, link, "fd00:77::1/128")
	addRoute(t, link, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.2/32", 107)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addRoute(t, lo, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.9/32", 107) // as ipvs-proxy binds
	for _, a := range []string{"198.18.77.1", "fd00:77::1", "198.18.77.2", "198.18.77.9"} {
		for _, byHand := range []bool{true, false} {
			ip := netip.MustParseAddr(a)
			b, ok, err := IsBound(testDummy, ip)
			if err != nil || !ok {
				t.Fatalf("%s: bound %v, %v", a, ok, err)
			}
			if err := Unbind(testDummy, b, byHand); err != nil {
				t.Fatalf("%s (%s, by hand %v): %v", a, b.Form, byHand, err)
			}
			if left, ok, err := IsBound(testDummy, ip); err != nil || ok {
				t.Errorf("%s after Unbind of the %s (by hand %v): still bound as %+v (%v)", a, b.Form, byHand, left, err)
			}
			if err := Rebind(testDummy, b); err != nil {
				t.Fatal(err)
			}
			if again, ok, err := IsBound(testDummy, ip); err != nil || !ok || again != b {
				t.Errorf("%s after Rebind: %+v %v (%v), want %+v", a, again, ok, err, b)
			}
		}
	}
}

func addDummy(t *testing.T) netlink.Link {
	t.Helper()
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: testDummy}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatalf("adding %s: %v", testDummy, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(link) })
	// Up, so that the kernel accepts IPv6 local routes through it and adds
	// its IPv6 link-local address, which is not a binding.
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return link
}

func addAddr(t *testing.T, link netlink.Link, p string) {
	t.Helper()
	a, err := netlink.ParseAddr(p)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags = unix.IFA_F_NODAD
	if err := netlink.AddrAdd(link, a); err != nil {
		t.Fatalf("adding %s: %v", p, err)
	}
}

func addRoute(t *testing.T, link netlink.Link, typ, table int, dst string, proto netlink.RouteProtocol) {
	t.Helper()
	_, n, err := net.ParseCIDR(dst)
	if err != nil {
		t.Fatal(err)
	}
	r := &netlink.Route{Type: typ, Table: table, LinkIndex: link.Attrs().Index, Dst: n, Protocol: proto}
	if typ == unix.RTN_LOCAL {
		r.Scope = netlink.SCOPE_HOST
	}
	if err := netlink.RouteAdd(r); err != nil {
		t.Fatalf("adding %s route %s: %v", dst, r, err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(r) })
}

// TestIsLocal: an address bound as ipvs-proxy binds it (a local route
// through lo) or as an address is local; once its route is deleted, or
// for an address never bound, it is not.
func TestIsLocal(t *testing.T) {
	link := addDummy(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addRoute(t, lo, unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, "198.18.77.9/32", 107)
	addAddr(t, link, "198.18.77.1/32")
	for _, c := range []struct {
		addr string
		want bool
	}{{"198.18.77.9", true}, {"198.18.77.1", true}, {"198.18.77.10", false}} {
		got, err := IsLocal(netip.MustParseAddr(c.addr))
		if err != nil || got != c.want {
			t.Errorf("IsLocal(%s) = %v, %v; want %v", c.addr, got, err, c.want)
		}
	}
	bs, err := Bindings(testDummy)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Prefix.Addr() == netip.MustParseAddr("198.18.77.9") {
			if err := Unbind(testDummy, b, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := IsLocal(netip.MustParseAddr("198.18.77.9")); err != nil || got {
		t.Errorf("IsLocal after the route's deletion = %v, %v; want false", got, err)
	}
}
