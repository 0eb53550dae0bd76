//go:build vmtest

package addr_test

import (
	"errors"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
)

// TestEnsureInterface checks the dummy is created as kube-proxy leaves
// kube-ipvs0 (dummy, NOARP, down), that ensuring again is harmless, that a
// cleared NOARP is restored without touching addresses, and deletion.
func TestEnsureInterface(t *testing.T) {
	n := netnstest.New(t)
	a := adapter(t, n)
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	l := n.Link(t, addr.DefaultInterface)
	if l.Type() != "dummy" {
		t.Errorf("type = %s, want dummy", l.Type())
	}
	if l.Attrs().RawFlags&unix.IFF_NOARP == 0 {
		t.Error("NOARP not set")
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		t.Error("interface is up, want down")
	}
	if err := a.EnsureInterface(); err != nil {
		t.Errorf("second EnsureInterface: %v", err)
	}

	if err := a.Bind(ip("198.18.40.10")); err != nil {
		t.Fatal(err)
	}
	if err := n.NL.LinkSetARPOn(l); err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	if n.Link(t, addr.DefaultInterface).Attrs().RawFlags&unix.IFF_NOARP == 0 {
		t.Error("NOARP not restored")
	}
	if got := list(t, a); len(got) != 1 {
		t.Errorf("addresses after restoring NOARP = %v, want the bound one", got)
	}

	if err := a.DeleteInterface(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.NL.LinkByName(addr.DefaultInterface); err == nil {
		t.Error("interface still exists after DeleteInterface")
	}
	if err := a.DeleteInterface(); err != nil {
		t.Errorf("DeleteInterface of a missing interface = %v, want nil", err)
	}
}

// TestForeignLink checks a non-dummy link with our name is never changed
// nor deleted.
func TestForeignLink(t *testing.T) {
	n := netnstest.New(t)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: addr.DefaultInterface}}
	if err := n.NL.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	a := adapter(t, n)
	if err := a.EnsureInterface(); !errors.Is(err, addr.ErrNotDummy) {
		t.Errorf("EnsureInterface = %v, want ErrNotDummy", err)
	}
	if err := a.DeleteInterface(); !errors.Is(err, addr.ErrNotDummy) {
		t.Errorf("DeleteInterface = %v, want ErrNotDummy", err)
	}
	if err := a.Bind(ip("198.18.40.10")); !errors.Is(err, addr.ErrNotDummy) {
		t.Errorf("Bind = %v, want ErrNotDummy", err)
	}
	if l := n.Link(t, addr.DefaultInterface); l.Type() != "bridge" {
		t.Errorf("link type = %s, want the bridge untouched", l.Type())
	}
}

// TestInterfaceDeletedBehindOurBack checks the adapter notices a deleted
// and recreated interface (its cached index is stale).
func TestInterfaceDeletedBehindOurBack(t *testing.T) {
	n := netnstest.New(t)
	a := ensured(t, n)
	if err := a.Bind(ip("198.18.40.10")); err != nil {
		t.Fatal(err)
	}
	if err := n.NL.LinkDel(n.Link(t, addr.DefaultInterface)); err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(ip("198.18.40.11")); !errors.Is(err, addr.ErrInterfaceNotFound) {
		t.Errorf("Bind without interface = %v, want ErrInterfaceNotFound", err)
	}
	if _, err := a.List(); !errors.Is(err, addr.ErrInterfaceNotFound) {
		t.Errorf("List without interface = %v, want ErrInterfaceNotFound", err)
	}
	if err := a.Unbind(ip("198.18.40.10")); err != nil {
		t.Errorf("Unbind without interface = %v, want nil", err)
	}
	// Someone else recreates it (new ifindex) before we do.
	if err := n.NL.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: addr.DefaultInterface}}); err != nil {
		t.Fatal(err)
	}
	// Bind without EnsureInterface: the stale index fails with ENODEV and
	// the adapter looks the name up again.
	if err := a.Bind(ip("198.18.40.11")); err != nil {
		t.Fatalf("Bind after recreation: %v", err)
	}
	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	if got := list(t, a); !equal(got, []netip.Addr{ip("198.18.40.11")}) {
		t.Errorf("List = %v", got)
	}
}
