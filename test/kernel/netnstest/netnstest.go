// Package netnstest gives real-kernel tests a fresh network namespace each,
// with a netlink handle inside it, so tests can build links, addresses and
// flows without touching the VM's own namespace. The tests that use it run
// in the VM of test/vm (build tag vmtest).
package netnstest

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetNS is a fresh network namespace owned by one test: its conntrack table
// starts empty and vanishes with it.
type NetNS struct {
	Handle netns.NsHandle
	// Path opens the namespace (what the adapters' constructors take).
	Path string
	// NL is an rtnetlink and ctnetlink handle inside the namespace.
	NL *netlink.Handle
}

// New creates a namespace with lo up, closed when the test ends.
func New(t *testing.T) *NetNS {
	t.Helper()
	h := func() netns.NsHandle {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatalf("netns.Get: %v", err)
		}
		defer orig.Close()
		h, err := netns.New()
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatalf("netns.New: %v", err)
		}
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the new namespace: keep it locked so
			// that it dies with this goroutine.
			t.Fatalf("restoring the network namespace: %v", err)
		}
		runtime.UnlockOSThread()
		return h
	}()
	n := &NetNS{Handle: h, Path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h))}
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	n.NL = nl
	t.Cleanup(func() { nl.Close(); h.Close() })
	lo, err := nl.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return n
}

// Do runs fn on a thread inside the namespace; sockets it opens stay there.
func (n *NetNS) Do(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(n.Handle); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("restoring the network namespace: %v", err)
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// AddLoopback adds host addresses to lo.
func (n *NetNS) AddLoopback(t *testing.T, addrs ...netip.Addr) {
	t.Helper()
	lo, err := n.NL.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		a, err := netlink.ParseAddr(netip.PrefixFrom(a, a.BitLen()).String())
		if err != nil {
			t.Fatal(err)
		}
		if a.IP.To4() == nil {
			a.Flags = 0x02 // IFA_F_NODAD: usable at once
		}
		if err := n.NL.AddrAdd(lo, a); err != nil {
			t.Fatalf("adding %s to lo: %v", a, err)
		}
	}
}

// AddAddr adds prefix to the link named name, without DAD for IPv6.
func (n *NetNS) AddAddr(t *testing.T, name, prefix string) {
	t.Helper()
	link, err := n.NL.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.To4() == nil {
		a.Flags = 0x02 // IFA_F_NODAD
	}
	if err := n.NL.AddrAdd(link, a); err != nil {
		t.Fatalf("adding %s to %s: %v", prefix, name, err)
	}
}

// Link returns the link named name, failing the test if it is missing.
func (n *NetNS) Link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := n.NL.LinkByName(name)
	if err != nil {
		t.Fatalf("LinkByName(%s): %v", name, err)
	}
	return l
}

// SetUp brings a link up.
func (n *NetNS) SetUp(t *testing.T, name string) {
	t.Helper()
	if err := n.NL.LinkSetUp(n.Link(t, name)); err != nil {
		t.Fatal(err)
	}
}
