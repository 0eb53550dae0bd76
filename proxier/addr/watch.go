package addr

import (
	"net/netip"
	"time"
)

// EventKind says what an address Event reports.
type EventKind uint8

const (
	// AddressAdded: Addr was added (or its flags or lifetimes changed:
	// the kernel reports both the same way), or our local route binding
	// it (then Dummy is set).
	AddressAdded EventKind = iota + 1
	// AddressRemoved: Addr was removed, or our local route binding it.
	AddressRemoved
	// InterfaceChanged: the dummy interface was deleted, or a link with
	// its name was created (possibly with another index). Its addresses
	// are gone with it, usually without one AddressRemoved each.
	InterfaceChanged
	// EventsLost: notifications may have been missed (the socket's receive
	// buffer overflowed, ENOBUFS, or the subscription failed, reported
	// when it fails and again once renewed); Err says why. Anything may
	// have changed.
	EventsLost
)

func (k EventKind) String() string {
	switch k {
	case AddressAdded:
		return "added"
	case AddressRemoved:
		return "removed"
	case InterfaceChanged:
		return "interface-changed"
	case EventsLost:
		return "lost"
	}
	return "unknown"
}

// Event is one change the kernel reported, filtered to what the daemon
// acts on: addresses added to or removed from the dummy interface (Dummy
// set) or another link (the host's addresses, which node ports and
// proxier.Node.HostIPs are computed from), the dummy interface itself, and
// lost notifications. It reports what happened, not whether the daemon did
// it: its own binds and unbinds are reported too, and the consumer tells
// them apart by comparing with what it applied.
type Event struct {
	Kind EventKind
	// Addr is the address of AddressAdded and AddressRemoved, canonical
	// (IPv4 as IPv4); link-local and multicast addresses on the dummy
	// interface are not reported (see listable).
	Addr netip.Addr
	// Dummy: the address is a service address's binding: an address on
	// the dummy interface, or our local route.
	Dummy bool
	// Err is why events were lost (EventsLost only).
	Err error
}

// Watch backoff: a failed subscription (or receive) is renewed after
// watchBackoffMin, doubling up to watchBackoffMax while it keeps failing.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 30 * time.Second
)

// nextBackoff doubles d within [watchBackoffMin, watchBackoffMax].
func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, watchBackoffMin), watchBackoffMax)
}
