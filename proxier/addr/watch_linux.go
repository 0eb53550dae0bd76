//go:build linux

package addr

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// watchRcvBuf is the notification socket's default receive buffer
// (Config.WatchBuffer). Our own cold
// sync binds one address per service in a burst (10,000+ notifications of
// about 1 KB of buffer each); a buffer that overflows costs a full address
// listing (EventsLost), not a missed drift.
const watchRcvBuf = 8 << 20

// Watch implements Interface with the adapter's own rtnetlink socket,
// subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR,
// and parsed in place like the address dumps (dump_linux.go): one 64 KiB
// buffer reused, no allocation per notification.
// vishvananda/netlink's AddrSubscribeWithOptions was not used: it builds a
// netlink.AddrUpdate (with its net.IPNet) per notification, needs a second
// subscription for links, and ends its subscription on a receive error
// such as ENOBUFS with the errno formatted away, so an overflow could not
// be told from a broken socket.
//
// The socket is non-blocking and read through the Go runtime's poller:
// between notifications the goroutine is parked at no cost, and closing
// the socket when ctx is done wakes it.
func (n *Netlink) Watch(ctx context.Context, fn func(Event)) {
	w := &watcher{name: n.name, buf: make([]byte, 1<<16)}
	var lost error
	var backoff time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		err := n.watchOnce(ctx, w, lost, fn)
		if ctx.Err() != nil {
			return
		}
		lost = err
		if time.Since(start) > watchBackoffMax {
			backoff = 0 // it worked for a while: renew quickly
		}
		backoff = nextBackoff(backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// watchOnce subscribes, reports lost (the error that ended the previous
// subscription) as EventsLost, and reads notifications until the socket
// fails or ctx is done.
func (n *Netlink) watchOnce(ctx context.Context, w *watcher, lost error, fn func(Event)) error {
	f, err := n.subscribe()
	if err != nil {
		return err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	// Looked up after subscribing, so that a change in between is seen.
	w.dummy = 0
	if link, err := n.lookup(); err == nil {
		w.dummy = int32(link.Attrs().Index)
	}
	if lost != nil {
		fn(Event{Kind: EventsLost, Err: lost})
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var nr int
	var rerr error
	recv := func(fd uintptr) bool {
		nr, rerr = unix.Read(int(fd), w.buf)
		return rerr != unix.EAGAIN
	}
	for {
		if err := raw.Read(recv); err != nil {
			return fmt.Errorf("receiving rtnetlink notifications: %w", err)
		}
		switch {
		case rerr == unix.ENOBUFS:
			// The socket stays subscribed; what overflowed is unknown.
			fn(Event{Kind: EventsLost, Err: fmt.Errorf("rtnetlink notifications overflowed the receive buffer: %w", rerr)})
			continue
		case rerr != nil:
			return fmt.Errorf("receiving rtnetlink notifications: %w", rerr)
		}
		if err := w.parse(w.buf[:nr], fn); err != nil {
			return err
		}
	}
}

// subscribe opens a non-blocking rtnetlink socket in the adapter's
// namespace, subscribed to link and address notifications, as an os.File
// served by the runtime poller.
func (n *Netlink) subscribe() (*os.File, error) {
	ns := netns.None()
	if n.nsPath != "" {
		var err error
		if ns, err = netns.GetFromPath(n.nsPath); err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", n.nsPath, err)
		}
		defer ns.Close()
	}
	s, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR)
	if err != nil {
		return nil, fmt.Errorf("subscribing to rtnetlink notifications: %w", err)
	}
	// The library's socket reads through its own os.File with a receive
	// path that allocates; keep a duplicate of its (non-blocking) fd.
	fd, err := unix.FcntlInt(uintptr(s.GetFd()), unix.F_DUPFD_CLOEXEC, 0)
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("subscribing to rtnetlink notifications: %w", err)
	}
	size := watchRcvBuf
	if n.rcvBuf > 0 {
		size = n.rcvBuf
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
		// Without CAP_NET_ADMIN: as large as net.core.rmem_max allows.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}
	return os.NewFile(uintptr(fd), "rtnetlink-notifications"), nil
}

// watcher turns notification buffers into Events. It is pure, apart from
// remembering the dummy interface's index.
type watcher struct {
	name  string // the dummy interface's name
	dummy int32  // its index, 0 when it does not exist
	buf   []byte
	msgs  []nlmsg.Message
}

// parse reports the events of one receive buffer. A malformed buffer is
// an error: the subscription is renewed and the loss reported.
func (w *watcher) parse(b []byte, fn func(Event)) error {
	var err error
	w.msgs, err = nlmsg.Append(w.msgs[:0], b)
	for _, m := range w.msgs {
		switch m.Type {
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			w.address(m, fn)
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			w.link(m, fn)
		}
	}
	if err != nil {
		return fmt.Errorf("parsing rtnetlink notifications: %w", err)
	}
	return nil
}

func (w *watcher) address(m nlmsg.Message, fn func(Event)) {
	a, ok := parseAddrMsg(m.Payload)
	if !ok {
		return
	}
	ip, _ := netip.AddrFromSlice(a.ip)
	ev := Event{Kind: AddressAdded, Addr: ip.Unmap(), Dummy: w.dummy != 0 && a.index == w.dummy}
	if m.Type == unix.RTM_DELADDR {
		ev.Kind = AddressRemoved
	}
	if ev.Dummy && !listable(ev.Addr) {
		return // link-local: the kernel's, never ours
	}
	fn(ev)
}

// link reports the dummy interface deleted, created, recreated or renamed.
// Other links' notifications (carrier, statistics, flags) are dropped.
func (w *watcher) link(m nlmsg.Message, fn func(Event)) {
	if len(m.Payload) < unix.SizeofIfInfomsg {
		return
	}
	index := int32(nl.NativeEndian().Uint32(m.Payload[4:]))
	named := string(linkName(m.Payload[unix.SizeofIfInfomsg:])) == w.name
	switch {
	case m.Type == unix.RTM_DELLINK && (named || index == w.dummy):
		w.dummy = 0
	case m.Type == unix.RTM_NEWLINK && named && index != w.dummy:
		w.dummy = index
	case m.Type == unix.RTM_NEWLINK && !named && index == w.dummy:
		w.dummy = 0 // renamed away
	default:
		return
	}
	fn(Event{Kind: InterfaceChanged})
}

// linkName returns the IFLA_IFNAME attribute among a link message's
// attributes, without its terminating NUL (nil when absent).
func linkName(attrs []byte) []byte {
	for len(attrs) >= unix.SizeofRtAttr {
		l := int(nl.NativeEndian().Uint16(attrs))
		if l < unix.SizeofRtAttr || l > len(attrs) {
			return nil
		}
		if nl.NativeEndian().Uint16(attrs[2:]) == unix.IFLA_IFNAME {
			v := attrs[unix.SizeofRtAttr:l]
			for len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			return v
		}
		attrs = attrs[min(nlmsg.Align(l), len(attrs)):]
	}
	return nil
}
