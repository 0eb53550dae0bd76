//go:build vmtest

package addr_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
)

// TestHostAddresses checks that the host's addresses are those of every
// link but the dummy, loopback included, and that an address on both the
// dummy and another link is the host's (kubernetes#114815).
func TestHostAddresses(t *testing.T) {
	n := netnstest.New(t) // lo up: 127.0.0.1 and ::1
	if err := n.NL.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "node0"}}); err != nil {
		t.Fatal(err)
	}
	n.AddAddr(t, "node0", "198.18.50.2/24")
	n.AddAddr(t, "node0", "fd00:50::2/64")
	n.AddAddr(t, "node0", "198.18.50.10/32")
	a := adapter(t, n)
	want := []netip.Addr{ip("127.0.0.1"), ip("198.18.50.2"), ip("198.18.50.10"), ip("::1"), ip("fd00:50::2")}

	got, err := a.HostAddresses()
	if err != nil {
		t.Fatalf("HostAddresses without the dummy interface: %v", err)
	}
	if !equal(withoutLinkLocal(got), want) {
		t.Errorf("HostAddresses() without the dummy interface = %v, want %v", got, want)
	}

	if err := a.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []netip.Addr{ip("198.18.50.20"), ip("fd00:50::20"), ip("198.18.50.10")} {
		if err := a.Bind(x); err != nil {
			t.Fatal(err)
		}
	}
	got, err = a.HostAddresses()
	if err != nil {
		t.Fatal(err)
	}
	if !equal(withoutLinkLocal(got), want) {
		t.Errorf("HostAddresses() = %v, want %v (kube-ipvs0's own addresses left out)", got, want)
	}
	if !slices.IsSortedFunc(got, netip.Addr.Compare) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("HostAddresses() = %v, not sorted and unique", got)
	}
}

// withoutLinkLocal drops the fe80:: addresses the kernel may have added to
// links that are up (when is not this test's business).
func withoutLinkLocal(as []netip.Addr) []netip.Addr {
	return slices.DeleteFunc(slices.Clone(as), netip.Addr.IsLinkLocalUnicast)
}
