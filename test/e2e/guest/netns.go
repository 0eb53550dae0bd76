package guest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netns is a named network namespace joined to the node by a veth pair: eth0
// inside, "v-NAME" on the node. It has one IPv4 and one IPv6 address and
// default routes through the node, so it reaches every service address the
// node serves, and the node routes replies back to it.
//
// The zero Netns (Node) is the node's own root namespace.
type Netns struct {
	Name   string
	IPv4   netip.Addr
	IPv6   netip.Addr
	handle netns.NsHandle
	link   string
	root   bool
}

// Node is the node's root namespace, for clients that run on the node.
var Node = &Netns{Name: "node", root: true}

// NewNetns creates the namespace NAME with index idx (1-127 for pods, 200-207
// for outside clients; see plan.go), wires it and brings it up.
func NewNetns(name string, idx int) (_ *Netns, err error) {
	v4, gw4, v6, gw6, err := netnsAddrs(idx)
	if err != nil {
		return nil, err
	}
	if len(name) > 13 {
		return nil, fmt.Errorf("netns name %q longer than 13 characters (the veth is v-NAME)", name)
	}
	ns, err := newNamed(name)
	if err != nil {
		return nil, err
	}
	n := &Netns{Name: name, IPv4: v4.Addr(), IPv6: v6.Addr(), handle: ns, link: "v-" + name}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if err := n.wireNode(gw4, gw6); err != nil {
		return nil, err
	}
	if err := n.wireInside(v4, v6, gw4.Addr(), gw6.Addr()); err != nil {
		return nil, err
	}
	return n, nil
}

// newNamed creates /run/netns/NAME, as `ip netns add` does, and returns to
// the namespace the thread was in.
func newNamed(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, fmt.Errorf("getting the current netns: %w", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		return 0, fmt.Errorf("creating netns %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		return 0, fmt.Errorf("returning to the root netns: %w", err)
	}
	return ns, nil
}

// wireNode adds the veth pair and the node-side gateway addresses.
func (n *Netns) wireNode(gw4, gw6 netip.Prefix) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.link}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(n.handle))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth %s: %w", n.link, err)
	}
	link, err := netlink.LinkByName(n.link)
	if err != nil {
		return fmt.Errorf("finding veth %s: %w", n.link, err)
	}
	for _, p := range []netip.Prefix{gw4, gw6} {
		if err := netlink.AddrAdd(link, nodadAddr(p)); err != nil {
			return fmt.Errorf("adding %s to %s: %w", p, n.link, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("raising %s: %w", n.link, err)
	}
	return nil
}

// wireInside addresses eth0 in the namespace and routes everything through
// the node.
func (n *Netns) wireInside(v4, v6 netip.Prefix, gw4, gw6 netip.Addr) error {
	h, err := netlink.NewHandleAt(n.handle, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink in %s: %w", n.Name, err)
	}
	defer h.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("finding %s in %s: %w", name, n.Name, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("raising %s in %s: %w", name, n.Name, err)
		}
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, p := range []netip.Prefix{v4, v6} {
		if err := h.AddrAdd(eth0, nodadAddr(p)); err != nil {
			return fmt.Errorf("adding %s in %s: %w", p, n.Name, err)
		}
	}
	for _, gw := range []netip.Addr{gw4, gw6} {
		r := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(gw.AsSlice())}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("adding the default route via %s in %s: %w", gw, n.Name, err)
		}
	}
	return nil
}

// nodadAddr skips IPv6 duplicate address detection, which would keep the
// address tentative (unusable) for a second or more.
func nodadAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// Addr returns the namespace's address of the family of like.
func (n *Netns) Addr(v6 bool) netip.Addr {
	if v6 {
		return n.IPv6
	}
	return n.IPv4
}

// Do runs f on a thread inside the namespace: sockets f opens live there for
// good, whatever thread later uses them.
func (n *Netns) Do(f func() error) error {
	if n.root {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting the current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering netns %s: %w", n.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so it dies with the goroutine instead of
		// running others in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("leaving netns %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Cut deletes the veth pair: the namespace and its sockets stay, but no
// packet reaches them any more and none leaves them, not even a FIN or a
// reset. This is a node that died, or a pod whose network vanished.
func (n *Netns) Cut() error {
	link, err := netlink.LinkByName(n.link)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("finding %s: %w", n.link, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("deleting %s: %w", n.link, err)
	}
	return nil
}

// Close cuts the namespace off and deletes its name. Sockets still open in it
// keep it alive until they are closed.
func (n *Netns) Close() error {
	if n.root {
		return nil
	}
	err := n.Cut()
	if n.handle.IsOpen() {
		err = errors.Join(err, n.handle.Close())
	}
	if derr := netns.DeleteNamed(n.Name); derr != nil && !errors.Is(derr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("deleting netns %s: %w", n.Name, derr))
	}
	return err
}
