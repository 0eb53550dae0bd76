package addr

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// Call names an Interface method, for the Fake's counters and faults.
type Call string

// The calls of Interface.
const (
	CallEnsureInterface Call = "EnsureInterface"
	CallDeleteInterface Call = "DeleteInterface"
	CallList            Call = "List"
	CallBind            Call = "Bind"
	CallUnbind          Call = "Unbind"
	CallNodeAddresses   Call = "NodeAddresses"
	CallHostAddresses   Call = "HostAddresses"
	CallWatch           Call = "Watch"
)

// Fake is an in-memory Interface: one dummy interface with its addresses,
// and the node's addresses on its other links. It starts without the dummy
// interface. Its Injector counts calls and fails them on demand: Bind and
// Unbind concern their address (fault.Rule.Subject "10.96.0.10"; BindAll
// is a Bind of each). Writes are Bind, Unbind, DeleteInterface of an
// existing interface and EnsureInterface when it creates or repairs the
// interface; every other call is a read. A failed call changes nothing. It
// is safe for concurrent use.
//
// Watch is a subscription like the kernel's (fake_watch.go): every change
// the Fake's state goes through, by the code's calls or behind its back
// (RemoveAddress, AddAddress, RemoveInterface, SetHostAddresses), is
// reported to it, and Inject adds any event (EventsLost for an overflow).
// A fault on CallWatch fails the subscription, which is renewed.
type Fake struct {
	fault.Injector[Call]
	mu      sync.Mutex
	name    string
	primary []netip.Addr
	exists  bool
	arp     bool // ARP enabled (NOARP cleared) on the dummy
	notDum  bool // a non-dummy link holds the name
	bound   map[netip.Addr]bool
	host    []netip.Addr

	// watch is the running Watch's fn (nil: none) and pending the events
	// not delivered yet; wmu keeps deliveries in order (fake_watch.go).
	watch   func(Event)
	pending []Event
	wmu     sync.Mutex
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake for the configured interface name and primary IPs.
func NewFake(cfg Config) *Fake {
	return &Fake{name: cfg.name(), primary: slices.Clone(cfg.PrimaryIPs),
		bound: map[netip.Addr]bool{}}
}

// SeedInterface creates the dummy interface with the given addresses, as
// kube-proxy or a previous run left it; it is not counted.
func (f *Fake) SeedInterface(addrs ...netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exists, f.notDum = true, false
	for _, a := range addrs {
		f.bound[a.Unmap()] = true
	}
}

// SeedForeignLink makes a link of another type hold the interface's name.
func (f *Fake) SeedForeignLink() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exists, f.notDum = false, true
	clear(f.bound)
}

// SeedARP clears NOARP on the dummy interface, as an administrator could.
func (f *Fake) SeedARP() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arp = true
}

// RemoveInterface deletes the dummy interface behind the code's back, as
// an administrator could; it is not counted.
func (f *Fake) RemoveInterface() {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notify(Event{Kind: InterfaceChanged})
	f.exists = false
	clear(f.bound)
}

// SetHostAddresses sets the node's addresses on links other than the dummy
// interface (what HostAddresses lists and NodeAddresses filters).
func (f *Fake) SetHostAddresses(addrs ...netip.Addr) {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notifyHost(f.host, addrs)
	f.host = slices.Clone(addrs)
}

// call counts one call and returns its injected error; subject is what the
// call concerns ("" for nothing).
func (f *Fake) call(c Call, subject any, write bool) error {
	kind := fault.Read
	if write {
		kind = fault.Write
	}
	if subject == "" {
		return fault.Hit(&f.Injector, c, kind)
	}
	return fault.Hit(&f.Injector, c, kind, subject)
}

// EnsureInterface implements Interface.
func (f *Fake) EnsureInterface() error {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	write := !f.notDum && (!f.exists || f.arp)
	if err := f.call(CallEnsureInterface, "", write); err != nil {
		return err
	}
	if f.notDum {
		return fmt.Errorf("%s: %w", f.name, ErrNotDummy)
	}
	if !f.exists {
		f.notify(Event{Kind: InterfaceChanged})
	}
	f.exists, f.arp = true, false
	return nil
}

// DeleteInterface implements Interface.
func (f *Fake) DeleteInterface() error {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallDeleteInterface, "", f.exists && !f.notDum); err != nil {
		return err
	}
	if f.notDum {
		return fmt.Errorf("%s: %w", f.name, ErrNotDummy)
	}
	if !f.exists {
		return nil
	}
	f.notify(Event{Kind: InterfaceChanged})
	f.exists, f.arp = false, false
	clear(f.bound)
	return nil
}

// List implements Interface.
func (f *Fake) List() ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallList, "", false); err != nil {
		return nil, err
	}
	if err := f.missing(); err != nil {
		return nil, err
	}
	var out []netip.Addr
	for a := range f.bound {
		if listable(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// missing returns the error for a dummy interface that is not there.
func (f *Fake) missing() error {
	if f.notDum {
		return fmt.Errorf("%s: %w", f.name, ErrNotDummy)
	}
	if !f.exists {
		return fmt.Errorf("%s: %w", f.name, ErrInterfaceNotFound)
	}
	return nil
}

// Bind implements Interface.
func (f *Fake) Bind(a netip.Addr) error {
	a, err := canonical(a)
	if err != nil {
		return err
	}
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallBind, a, true); err != nil {
		return err
	}
	if err := f.missing(); err != nil {
		return err
	}
	if !f.bound[a] {
		f.notify(Event{Kind: AddressAdded, Addr: a, Dummy: true})
	}
	f.bound[a] = true
	return nil
}

// BindAll implements Interface: Bind of each address, counted one by one.
func (f *Fake) BindAll(addrs []netip.Addr) []error {
	errs := make([]error, len(addrs))
	for i, a := range addrs {
		errs[i] = f.Bind(a)
	}
	return errs
}

// Unbind implements Interface.
func (f *Fake) Unbind(a netip.Addr) error {
	a = a.Unmap()
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallUnbind, a, true); err != nil {
		return err
	}
	if f.notDum {
		return fmt.Errorf("%s: %w", f.name, ErrNotDummy)
	}
	if f.bound[a] {
		f.notify(Event{Kind: AddressRemoved, Addr: a, Dummy: true})
	}
	delete(f.bound, a)
	return nil
}

// NodeAddresses implements Interface.
func (f *Fake) NodeAddresses(nodePortAddresses []string) ([]netip.Addr, error) {
	sel, err := ParseNodePortAddresses(nodePortAddresses, f.primary)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallNodeAddresses, "", false); err != nil {
		return nil, err
	}
	return sel.Select(f.host), nil
}

// HostAddresses implements Interface: the addresses SetHostAddresses gave,
// sorted and without duplicates.
func (f *Fake) HostAddresses() ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallHostAddresses, "", false); err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(f.host))
	for _, a := range f.host {
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// Dump returns the interface and its bound addresses, sorted:
//
//	interface kube-ipvs0 dummy noarp
//	10.96.0.1
//	fd00:96::1
//
// or "interface kube-ipvs0 absent" (or "foreign" for a non-dummy link).
func (f *Fake) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	switch {
	case f.notDum:
		fmt.Fprintf(&b, "interface %s foreign\n", f.name)
	case !f.exists:
		fmt.Fprintf(&b, "interface %s absent\n", f.name)
	case f.arp:
		fmt.Fprintf(&b, "interface %s dummy arp\n", f.name)
	default:
		fmt.Fprintf(&b, "interface %s dummy noarp\n", f.name)
	}
	addrs := make([]netip.Addr, 0, len(f.bound))
	for a := range f.bound {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}
