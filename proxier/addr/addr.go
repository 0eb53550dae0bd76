package addr

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// DefaultInterface is the dummy interface's default name, the one
// kube-proxy's IPVS mode uses, so that its addresses are adopted in place.
const DefaultInterface = "kube-ipvs0"

// RouteProtocol is the routing protocol number (rtm_protocol) of the local
// routes that bind IPv4 service addresses: "local 10.96.0.10 dev lo table
// local proto 107 scope host src 10.96.0.10". It tells them apart from
// the kernel's routes (proto kernel, 2) and from anyone else's; 107 is not
// among the numbers iproute2's rt_protos names.
const RouteProtocol = 107

// Sentinel errors, checked with errors.Is.
var (
	// ErrInterfaceNotFound: the dummy interface does not exist.
	ErrInterfaceNotFound = errors.New("dummy interface not found")
	// ErrNotDummy: a link with the configured name exists but is not a
	// dummy interface; it is never modified nor deleted.
	ErrNotDummy = errors.New("link is not a dummy interface")
)

// Interface manages the dummy interface and its addresses.
type Interface interface {
	// EnsureInterface creates the dummy interface if it is missing (down,
	// NOARP). On an existing dummy it sets NOARP if it was cleared and
	// changes nothing else. A link of another type with the same name
	// returns ErrNotDummy.
	EnsureInterface() error
	// DeleteInterface deletes our local routes and the dummy interface,
	// and with them every bound address. A missing interface is not an error; a link of another type
	// returns ErrNotDummy.
	DeleteInterface() error
	// List returns the bound addresses (in either form: see the package
	// documentation), sorted, without link-local addresses. A missing
	// interface returns ErrInterfaceNotFound.
	List() ([]netip.Addr, error)
	// Bind binds the address: our local route for IPv4, a /128 address on
	// the dummy for IPv6. An address already bound, or already local
	// through an address on the dummy, is not an error. A missing interface
	// returns ErrInterfaceNotFound.
	Bind(netip.Addr) error
	// BindAll binds each address as Bind does, in as few kernel round
	// trips as it can; errs[i] is what Bind would return for addrs[i].
	BindAll(addrs []netip.Addr) (errs []error)
	// Unbind removes the address's binding, in whichever form it has. An
	// address not bound, or a missing interface, is not an error.
	Unbind(netip.Addr) error
	// NodeAddresses returns the node's addresses on which NodePorts listen,
	// sorted: the addresses of every link but the dummy interface, filtered
	// by the --nodeport-addresses values (see ParseNodePortAddresses), never
	// loopback or link-local. Invalid values return an error.
	NodeAddresses(nodePortAddresses []string) ([]netip.Addr, error)
	// HostAddresses returns every address configured on every link but the
	// dummy interface (on every link when it is missing or is not a
	// dummy), sorted and without duplicates: node IPs, loopback and
	// link-local addresses included. These belong to the host: a service
	// address among them is served but never bound (proxier.Node.HostIPs).
	// An address on both the dummy and another link is listed. Errors are
	// those of the kernel dump.
	HostAddresses() ([]netip.Addr, error)
	// Watch reports the kernel's notifications about addresses and the
	// dummy interface to fn (see Event), in order, from the caller's
	// goroutine, until ctx is done, then returns. Between notifications it
	// waits blocked in the kernel: no polling, no idle cost. A subscription
	// that fails is renewed with backoff (100 ms doubling to 30 s), after
	// which fn gets an EventsLost; so it does when the receive buffer
	// overflowed. A failure is also reported at once, so that one that
	// persists is seen. Run at most one Watch per Interface.
	Watch(ctx context.Context, fn func(Event))
}

// Config configures the real Interface and the Fake.
type Config struct {
	// Name is the dummy interface's name; "" means DefaultInterface.
	Name string
	// PrimaryIPs are the node's primary addresses (from the Node object),
	// which the --nodeport-addresses keyword "primary" selects.
	PrimaryIPs []netip.Addr
	// NetNSPath, when set, makes the real Interface work in that network
	// namespace (a /proc/PID/ns/net or /run/netns/NAME path) instead of the
	// caller's. Tests use it.
	NetNSPath string
	// WatchBuffer is the receive buffer of the real Interface's Watch
	// socket in bytes; 0 means 8 MiB. Tests make it small to overflow it.
	WatchBuffer int
}

func (c Config) name() string {
	if c.Name == "" {
		return DefaultInterface
	}
	return c.Name
}

// canonical checks that a can be bound as a service address and returns it
// in the form the kernel reports (IPv4-mapped IPv6 becomes IPv4).
func canonical(a netip.Addr) (netip.Addr, error) {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return a, errors.New("invalid address")
	case a.Zone() != "":
		return a, fmt.Errorf("address %s has a zone", a)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return a, fmt.Errorf("address %s cannot be a service address", a)
	}
	return a, nil
}

// listable reports whether an address found on the dummy interface is one
// the engine may own (link-local addresses are the kernel's).
func listable(a netip.Addr) bool {
	return a.IsValid() && !a.IsLinkLocalUnicast() && !a.IsMulticast()
}
