//go:build linux

package addr

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
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
// subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR and
// RTNLGRP_IPV4_ROUTE (our local routes: route_linux.go), and parsed in place
// like the dumps (dump_linux.go): one 64 KiB
// buffer reused, no allocation per notification.
// vishvananda/netlink's AddrSubscribeWithOptions was not used: it builds a
// netlink.AddrUpdate (with its net.IPNet) per notification, needs a second
// subscription for links, and ends its subscription on a receive error
// such as ENOBUFS with the errno formatted away, so an overflow could not
// be told from a broken socket.
//
// Between notifications the goroutine is blocked in poll(2) on the socket
// and an eventfd that ctx's end writes to: no CPU at all when idle. The
// socket is kept out of the Go runtime's poller on purpose: that poller's
// epoll is edge-triggered and wakes for every notification queued, and our
// own cold sync makes one per address. In the test VM (TCG) that doubled
// the CPU of a 10,000-address BindAll. Here, once woken, the watch lets the
// burst queue for watchCoalesce and then reads it without a wake-up each.
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
		// Reported now, so that a subscription that keeps failing is
		// seen, and again once renewed, for what changed in between.
		fn(Event{Kind: EventsLost, Err: err})
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
	fd, err := n.subscribe()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("creating an eventfd: %w", err)
	}
	defer unix.Close(wake)
	// ctx's end wakes the poll; the goroutine is gone before wake closes.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			_, _ = unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		case <-done:
		}
	})
	defer wg.Wait()
	defer close(done)
	// Looked up after subscribing, so that a change in between is seen.
	w.dummy = 0
	if link, err := n.lookup(); err == nil {
		w.dummy = int32(link.Attrs().Index)
	}
	if lost != nil {
		fn(Event{Kind: EventsLost, Err: lost})
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
	for {
		if err := w.drain(fd, fn); err != nil {
			return err
		}
		if err := waitReadable(fds); err != nil {
			return err
		}
		if fds[1].Revents != 0 {
			return ctx.Err()
		}
		time.Sleep(watchCoalesce)
	}
}

// watchCoalesce is how long the watch lets notifications queue once woken
// before reading them; far below the daemon's debounce.
const watchCoalesce = 10 * time.Millisecond

// waitReadable blocks in poll(2) until one of fds is readable.
func waitReadable(fds []unix.PollFd) error {
	for {
		_, err := unix.Poll(fds, -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("waiting for rtnetlink notifications: %w", err)
		}
		return nil
	}
}

// drain reads every queued notification (the socket is non-blocking).
func (w *watcher) drain(fd int, fn func(Event)) error {
	for {
		nr, err := unix.Read(fd, w.buf)
		switch {
		case err == unix.EAGAIN:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			// The socket stays subscribed; what overflowed is unknown.
			fn(Event{Kind: EventsLost, Err: fmt.Errorf("rtnetlink notifications overflowed the receive buffer: %w", err)})
			continue
		case err != nil:
			return fmt.Errorf("receiving rtnetlink notifications: %w", err)
		}
		if err := w.parse(w.buf[:nr], fn); err != nil {
			return err
		}
	}
}

// subscribe opens a non-blocking rtnetlink socket in the adapter's
// namespace, subscribed to link, address and IPv4 route notifications.
func (n *Netlink) subscribe() (int, error) {
	ns := netns.None()
	if n.nsPath != "" {
		var err error
		if ns, err = netns.GetFromPath(n.nsPath); err != nil {
			return -1, fmt.Errorf("opening network namespace %s: %w", n.nsPath, err)
		}
		defer ns.Close()
	}
	s, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV4_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("subscribing to rtnetlink notifications: %w", err)
	}
	// The library's socket belongs to an os.File in the runtime's poller
	// (see Watch); keep a duplicate of its (non-blocking) fd instead.
	fd, err := unix.FcntlInt(uintptr(s.GetFd()), unix.F_DUPFD_CLOEXEC, 0)
	s.Close()
	if err != nil {
		return -1, fmt.Errorf("subscribing to rtnetlink notifications: %w", err)
	}
	size := watchRcvBuf
	if n.rcvBuf > 0 {
		size = n.rcvBuf
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
		// Without CAP_NET_ADMIN: as large as net.core.rmem_max allows.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}
	return fd, nil
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
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			w.route(m, fn)
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

// route reports our local routes (bound IPv4 addresses) added and deleted;
// every other route notification is dropped.
func (w *watcher) route(m nlmsg.Message, fn func(Event)) {
	r, ok := parseRouteMsg(m.Payload)
	if !ok || !r.ours() {
		return
	}
	ev := Event{Kind: AddressAdded, Addr: r.addr(), Dummy: true}
	if m.Type == unix.RTM_DELROUTE {
		ev.Kind = AddressRemoved
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
