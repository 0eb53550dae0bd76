//go:build linux

package addr

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// dumpRetries bounds how often a dump interrupted by concurrent changes is
// repeated.
const dumpRetries = 3

// Netlink is the real Interface, speaking rtnetlink.
type Netlink struct {
	name    string
	nsPath  string // Config.NetNSPath, for Watch's sockets
	rcvBuf  int    // Config.WatchBuffer
	primary []netip.Addr
	h       *netlink.Handle
	rt      *rtSocket

	mu    sync.Mutex
	index int // the dummy's ifindex, 0 when not looked up yet
}

var _ Interface = (*Netlink)(nil)

// New returns the real Interface. Close it when done.
func New(cfg Config) (*Netlink, error) {
	ns := netns.None()
	if cfg.NetNSPath != "" {
		var err error
		if ns, err = netns.GetFromPath(cfg.NetNSPath); err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", cfg.NetNSPath, err)
		}
		defer ns.Close()
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink socket: %w", err)
	}
	d, err := newRTSocket(ns)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Netlink{name: cfg.name(), nsPath: cfg.NetNSPath, rcvBuf: cfg.WatchBuffer, primary: slices.Clone(cfg.PrimaryIPs), h: h, rt: d}, nil
}

// Close releases the netlink sockets.
func (n *Netlink) Close() {
	n.h.Close()
	n.rt.close()
}

// lookup finds the dummy link by name and caches its index.
func (n *Netlink) lookup() (netlink.Link, error) {
	link, err := n.h.LinkByName(n.name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			n.setIndex(0)
			return nil, fmt.Errorf("%s: %w", n.name, ErrInterfaceNotFound)
		}
		return nil, fmt.Errorf("looking up %s: %w", n.name, err)
	}
	if link.Type() != "dummy" {
		return nil, fmt.Errorf("%s is a %s link: %w", n.name, link.Type(), ErrNotDummy)
	}
	n.setIndex(link.Attrs().Index)
	return link, nil
}

func (n *Netlink) setIndex(i int) {
	n.mu.Lock()
	n.index = i
	n.mu.Unlock()
}

// withLink runs op on the dummy link, looked up once and then by cached
// index. If the kernel says the index is gone (someone deleted or recreated
// the interface), the name is looked up again and op retried once.
func (n *Netlink) withLink(op func(netlink.Link) error) error {
	n.mu.Lock()
	idx := n.index
	n.mu.Unlock()
	if idx != 0 {
		err := op(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: n.name}})
		if !errors.Is(err, unix.ENODEV) {
			return err
		}
	}
	link, err := n.lookup()
	if err != nil {
		return err
	}
	return op(link)
}

// EnsureInterface implements Interface.
func (n *Netlink) EnsureInterface() error {
	link, err := n.lookup()
	switch {
	case errors.Is(err, ErrInterfaceNotFound):
		// The dummy driver creates the link down and with NOARP set.
		d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: n.name}}
		if err := n.h.LinkAdd(d); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating dummy interface %s: %w", n.name, err)
		}
		link, err = n.lookup()
		if err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if link.Attrs().RawFlags&unix.IFF_NOARP == 0 {
		if err := n.h.LinkSetARPOff(link); err != nil {
			return fmt.Errorf("setting NOARP on %s: %w", n.name, err)
		}
	}
	return nil
}

// DeleteInterface implements Interface.
func (n *Netlink) DeleteInterface() error {
	if err := n.deleteRoutes(); err != nil {
		return err
	}
	link, err := n.lookup()
	if errors.Is(err, ErrInterfaceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := n.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting %s: %w", n.name, err)
	}
	n.setIndex(0)
	return nil
}

// deleteRoutes deletes every local route of ours, bindBatch per write.
func (n *Netlink) deleteRoutes() error {
	routed, err := n.rt.routes()
	if err != nil {
		return err
	}
	for len(routed) > 0 {
		part := routed[:min(bindBatch, len(routed))]
		routed = routed[len(part):]
		errs := make([]error, len(part))
		err := n.rt.batch(len(part), errs, func(b []byte, i int, seq uint32) ([]byte, error) {
			return appendRoute(b, unix.RTM_DELROUTE, seq, part[i]), nil
		})
		if err = cmp.Or(err, errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil || errors.Is(e, unix.ESRCH) })...)); err != nil {
			return fmt.Errorf("deleting local routes: %w", err)
		}
	}
	return nil
}

// List implements Interface: the dummy's addresses (of both families: IPv6
// service addresses, and IPv4 ones that kube-proxy or an older version
// bound) and the IPv4 addresses our local routes bind.
func (n *Netlink) List() ([]netip.Addr, error) {
	var out []netip.Addr
	if _, err := n.lookup(); err != nil { // see BindAll
		return nil, err
	}
	err := n.withLink(func(link netlink.Link) error {
		dummy := int32(link.Attrs().Index)
		var err error
		if out, err = n.rt.collect(func(a ifAddr) bool { return a.index == dummy }); err != nil {
			return err
		}
		routed, err := n.rt.routes()
		out = append(out, routed...)
		return err
	})
	if err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(a netip.Addr) bool { return !listable(a) })
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// addrList dumps the addresses of one link (nil: all links), retrying
// interrupted dumps.
func (n *Netlink) addrList(link netlink.Link) ([]netlink.Addr, error) {
	var err error
	for range dumpRetries {
		var addrs []netlink.Addr
		addrs, err = n.h.AddrList(link, netlink.FAMILY_ALL)
		if err == nil {
			return addrs, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("listing addresses: %w", err)
}

// Bind implements Interface, as BindAll of one address.
func (n *Netlink) Bind(a netip.Addr) error {
	return n.BindAll([]netip.Addr{a})[0]
}

// Unbind implements Interface. An IPv4 address is unbound by deleting our
// local route; when there is none, an address bound on the dummy (by
// kube-proxy, or an older version) is deleted instead.
func (n *Netlink) Unbind(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() {
		return fmt.Errorf("unbinding from %s: invalid address", n.name)
	}
	if a.Is4() {
		// Our route does not need the dummy.
		errs := make([]error, 1)
		err := n.rt.batch(1, errs, func(b []byte, _ int, seq uint32) ([]byte, error) {
			return appendRoute(b, unix.RTM_DELROUTE, seq, a), nil
		})
		if err = cmp.Or(err, errs[0]); !errors.Is(err, unix.ESRCH) {
			if err != nil {
				return fmt.Errorf("unbinding %s: %w", a, err)
			}
			return nil
		}
	}
	err := n.withLink(func(link netlink.Link) error {
		err := n.h.AddrDel(link, hostAddr(a))
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			// Not bound as a host address; it may be bound with another
			// prefix length (by someone else), which the kernel needs to
			// match before deleting.
			return n.unbindAnyPrefix(link, a)
		}
		return err
	})
	switch {
	case err == nil, errors.Is(err, ErrInterfaceNotFound), errors.Is(err, unix.EADDRNOTAVAIL),
		errors.Is(err, unix.ENXIO):
		return nil
	case errors.Is(err, ErrNotDummy):
		return err
	}
	return fmt.Errorf("unbinding %s from %s: %w", a, n.name, err)
}

// unbindAnyPrefix deletes a with whatever prefix length it is bound with.
func (n *Netlink) unbindAnyPrefix(link netlink.Link, a netip.Addr) error {
	addrs, err := n.addrList(link)
	if err != nil {
		return err
	}
	for _, x := range addrs {
		if fromNet(x.IP) == a {
			return n.h.AddrDel(link, &x)
		}
	}
	return nil
}

// NodeAddresses implements Interface.
func (n *Netlink) NodeAddresses(nodePortAddresses []string) ([]netip.Addr, error) {
	sel, err := ParseNodePortAddresses(nodePortAddresses, n.primary)
	if err != nil {
		return nil, err
	}
	host, err := n.otherLinks(func(a ifAddr) bool { return a.flags&unix.IFA_F_DADFAILED == 0 })
	if err != nil {
		return nil, err
	}
	return sel.Select(host), nil
}

// HostAddresses implements Interface. Unlike NodeAddresses it keeps
// addresses whose duplicate address detection failed: they are still
// configured, and the rule they serve is "never bind what the host has".
func (n *Netlink) HostAddresses() ([]netip.Addr, error) {
	host, err := n.otherLinks(func(ifAddr) bool { return true })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(host, netip.Addr.Compare)
	return slices.Compact(host), nil
}

// otherLinks returns the addresses keep accepts among those of every link
// but the dummy interface (every link when it is missing or not a dummy),
// unsorted, from one RTM_GETADDR dump.
func (n *Netlink) otherLinks(keep func(ifAddr) bool) ([]netip.Addr, error) {
	dummy := 0
	if link, err := n.lookup(); err == nil {
		dummy = link.Attrs().Index
	} else if !errors.Is(err, ErrInterfaceNotFound) && !errors.Is(err, ErrNotDummy) {
		return nil, err
	}
	return n.rt.collect(func(a ifAddr) bool { return a.index != int32(dummy) && keep(a) })
}

// hostAddr is a as a /32 or /128 netlink address. IPv6 addresses skip
// duplicate address detection and get no prefix route (see the package
// documentation).
func hostAddr(a netip.Addr) *netlink.Addr {
	bits := a.BitLen()
	na := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}}
	if a.Is6() {
		na.Flags = unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE
	}
	return na
}

func fromNet(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
