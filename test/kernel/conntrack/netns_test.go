//go:build vmtest

package conntrack_test

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

// netNS is a fresh network namespace owned by one test: its conntrack table
// starts empty and vanishes with it.
type netNS struct {
	h netns.NsHandle
	// path opens the namespace (what the adapters' constructors take).
	path string
	// nl is an rtnetlink and ctnetlink handle inside the namespace.
	nl *netlink.Handle
}

// newNetNS creates a namespace with lo up, closed when the test ends.
func newNetNS(t *testing.T) *netNS {
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
	n := &netNS{h: h, path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h))}
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	n.nl = nl
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

// do runs fn on a thread inside the namespace; sockets it opens stay there.
func (n *netNS) do(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
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

// addLoopback adds host addresses to lo.
func (n *netNS) addLoopback(t *testing.T, addrs ...netip.Addr) {
	t.Helper()
	lo, err := n.nl.LinkByName("lo")
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
		if err := n.nl.AddrAdd(lo, a); err != nil {
			t.Fatalf("adding %s to lo: %v", a, err)
		}
	}
}
