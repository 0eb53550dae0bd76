package guest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DummyInterface is the interface both proxies bind service addresses to.
const DummyInterface = "kube-ipvs0"

// Form is how the kernel holds a bound address on an interface.
type Form int

const (
	// AsAddress is an address on the interface, as kube-proxy binds one
	// (and ipvs-proxy an IPv6 one).
	AsAddress Form = iota + 1
	// AsRoute is a host route of type local in table local, with no
	// address behind it, as ipvs-proxy binds an IPv4 one (issue 14: through
	// lo, protocol 107).
	AsRoute
)

func (f Form) String() string {
	switch f {
	case AsAddress:
		return "address"
	case AsRoute:
		return "local route"
	}
	return "unbound"
}

// Binding is one address the kernel treats as local through an interface.
type Binding struct {
	// Prefix is the address with its prefix length, or the route's /32
	// or /128 destination.
	Prefix netip.Prefix
	Form   Form
	// Protocol is the route's (AsRoute only): 107 for ipvs-proxy's.
	Protocol netlink.RouteProtocol
	// Dev is the route's output interface (AsRoute only): lo for
	// ipvs-proxy's.
	Dev string
}

// ipvsProxyProtocol is the protocol of ipvs-proxy's local routes
// (proxier/addr.RouteProtocol).
const ipvsProxyProtocol = 107

// BoundAddrs returns, sorted, the addresses the kernel treats as local
// through kube-ipvs0, in either form. It is what a test means by "bound on
// kube-ipvs0": kube-proxy binds addresses, ipvs-proxy binds IPv4 service
// addresses as local routes.
func BoundAddrs() ([]netip.Addr, error) {
	bs, err := Bindings(DummyInterface)
	out := make([]netip.Addr, len(bs))
	for i, b := range bs {
		out[i] = b.Prefix.Addr()
	}
	return out, err
}

// IsBound reports whether the kernel treats a as local through interface
// name.
func IsBound(name string, a netip.Addr) (Binding, bool, error) {
	bs, err := Bindings(name)
	if err != nil {
		return Binding{}, false, err
	}
	i := slices.IndexFunc(bs, func(b Binding) bool { return b.Prefix.Addr() == a })
	if i < 0 {
		return Binding{}, false, nil
	}
	return bs[i], true, nil
}

// IsLocal reports whether the kernel treats a as a local address: a route
// lookup for it (`ip route get`) finds a route of type local. Unlike
// IsBound it reads one route, not all of them: at 100,000 service
// addresses reading them all took 47 s in the test VM.
func IsLocal(a netip.Addr) (bool, error) {
	routes, err := netlink.RouteGet(a.AsSlice())
	switch {
	case errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.EINVAL):
		// No usable route: not local either (a local route is always
		// found). The bench VM's kernel answered EINVAL for a service
		// address whose local route had been deleted (run T1407Z).
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking up the route to %v: %w", a, err)
	}
	for _, r := range routes {
		if r.Type == unix.RTN_LOCAL {
			return true, nil
		}
	}
	return false, nil
}

// Bindings returns, sorted by address, the service addresses the kernel
// treats as local for a proxy whose dummy interface is name: its addresses
// (without IPv6 link-local ones, which the kernel adds to an interface that
// is up) and the destinations of the host routes of type local in table
// local whose output interface it is, whatever their protocol, or that are
// ipvs-proxy's (protocol 107, through lo). An address on the interface also
// has the kernel's own local route (protocol kernel): it is counted once, as
// the address.
func Bindings(name string) ([]Binding, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding interface %s: %w", name, err)
	}
	var out []Binding
	err = retryInterrupted(func() (err error) {
		out, err = readBindings(link.Attrs().Index)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading what is bound on %s: %w", name, err)
	}
	return out, nil
}

// readBindings reads the addresses and the local routes of link index idx.
func readBindings(idx int) ([]Binding, error) {
	byAddr := map[netip.Addr]Binding{}
	addrs, err := netlink.AddrList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx}}, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Is6() && ip.IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		byAddr[ip.Unmap()] = Binding{Prefix: netip.PrefixFrom(ip.Unmap(), ones), Form: AsAddress}
	}
	filter := &netlink.Route{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_TYPE)
	if err != nil {
		return nil, fmt.Errorf("listing local routes: %w", err)
	}
	for _, r := range routes {
		p, ok := hostPrefix(r.Dst)
		if !ok || p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() || r.LinkIndex != idx && r.Protocol != ipvsProxyProtocol {
			continue
		}
		if _, dup := byAddr[p.Addr()]; !dup {
			dev, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("finding the interface of the local route to %s: %w", p, err)
			}
			byAddr[p.Addr()] = Binding{Prefix: p, Form: AsRoute, Protocol: r.Protocol, Dev: dev.Attrs().Name}
		}
	}
	out := make([]Binding, 0, len(byAddr))
	for _, b := range byAddr {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Binding) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

// hostPrefix converts a route's destination, if it is one host (/32,
// /128).
func hostPrefix(dst *net.IPNet) (netip.Prefix, bool) {
	if dst == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(dst.IP)
	ones, bits := dst.Mask.Size()
	if !ok || ones != bits {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), true
}

// retryInterrupted runs read again while the kernel reports that the dump
// changed under it, a few times.
func retryInterrupted(read func() error) error {
	var err error
	for range 5 {
		if err = read(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// Unbind deletes b from interface name as an operator would, in the form
// the kernel holds it: with ip(8) when byHand (`ip addr del PREFIX dev
// NAME`, `ip route del local ADDR dev DEV table local`, DEV the route's),
// else over netlink with the same fields.
func Unbind(name string, b Binding, byHand bool) error {
	if byHand {
		_, err := Run("ip", unbindArgs(name, b)...)
		return err
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding interface %s: %w", name, err)
	}
	switch b.Form {
	case AsAddress:
		err = netlink.AddrDel(link, &netlink.Addr{IPNet: prefixNet(b.Prefix)})
	case AsRoute:
		var dev netlink.Link
		if dev, err = netlink.LinkByName(b.Dev); err != nil {
			return fmt.Errorf("finding interface %s: %w", b.Dev, err)
		}
		// Scope nowhere matches any scope, as ip(8) does when deleting.
		err = netlink.RouteDel(&netlink.Route{Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL,
			LinkIndex: dev.Attrs().Index, Dst: prefixNet(b.Prefix), Scope: netlink.SCOPE_NOWHERE})
	default:
		return fmt.Errorf("%s is not bound on %s", b.Prefix, name)
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s from %s: %w", b.Form, b.Prefix, name, err)
	}
	return nil
}

// UnbindCommand prints the ip(8) command Unbind runs by hand.
func UnbindCommand(name string, b Binding) string {
	return "ip " + strings.Join(unbindArgs(name, b), " ")
}

func unbindArgs(name string, b Binding) []string {
	if b.Form == AsRoute {
		return []string{"route", "del", "local", b.Prefix.Addr().String(), "dev", b.Dev, "table", "local"}
	}
	return []string{"addr", "del", b.Prefix.String(), "dev", name}
}

// Rebind puts back b, which Unbind deleted, in the same form: an address
// on interface name without duplicate address detection, or a local route
// through b's interface with b's protocol and the address as its source, as
// ipvs-proxy binds one.
func Rebind(name string, b Binding) error {
	if b.Form == AsRoute {
		name = b.Dev
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding interface %s: %w", name, err)
	}
	switch b.Form {
	case AsAddress:
		err = netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(b.Prefix), Flags: unix.IFA_F_NODAD})
	case AsRoute:
		err = netlink.RouteAdd(&netlink.Route{Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST,
			LinkIndex: link.Attrs().Index, Dst: prefixNet(b.Prefix), Src: b.Prefix.Addr().AsSlice(), Protocol: b.Protocol})
	default:
		return fmt.Errorf("%s: no form to bind it in", b.Prefix)
	}
	if err != nil {
		return fmt.Errorf("binding %s %s on %s: %w", b.Form, b.Prefix, name, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
