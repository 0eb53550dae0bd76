package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// OpKind is the kind of one kernel operation in a Plan.
type OpKind uint8

// Operation kinds, in the order a plan applies them.
const (
	OpAddVirtualServer OpKind = iota + 1
	OpUpdateVirtualServer
	OpAddRealServer
	OpUpdateRealServer
	OpBindAddress
	OpUnbindAddress
	OpDeleteRealServer
	OpDeleteVirtualServer
)

// String names the operation kind.
func (k OpKind) String() string {
	switch k {
	case OpAddVirtualServer:
		return "add-virtual-server"
	case OpUpdateVirtualServer:
		return "update-virtual-server"
	case OpAddRealServer:
		return "add-real-server"
	case OpUpdateRealServer:
		return "update-real-server"
	case OpBindAddress:
		return "bind-address"
	case OpUnbindAddress:
		return "unbind-address"
	case OpDeleteRealServer:
		return "delete-real-server"
	case OpDeleteVirtualServer:
		return "delete-virtual-server"
	}
	return fmt.Sprintf("op-%d", uint8(k))
}

// Op is one kernel operation.
type Op struct {
	Kind OpKind
	// VS is the virtual server an IPVS operation concerns. Delete and real
	// server operations use only its key.
	VS VirtualServer
	// RS is the real server of real server operations (only its key for
	// deletes).
	RS RealServer
	// Addr is the address of bind and unbind operations.
	Addr netip.Addr
}

// String formats the operation as the command that would perform it:
// ipvsadm syntax for IPVS, ip(8) syntax for addresses.
func (o Op) String() string {
	switch o.Kind {
	case OpAddVirtualServer:
		return FormatVirtualServer("-A", o.VS)
	case OpUpdateVirtualServer:
		return FormatVirtualServer("-E", o.VS)
	case OpDeleteVirtualServer:
		return fmt.Sprintf("-D %s %s", o.VS.Proto.ipvsadmFlag(), addrPort(o.VS.Addr, o.VS.Port))
	case OpAddRealServer:
		return FormatRealServer("-a", o.VS.VSKey, o.RS)
	case OpUpdateRealServer:
		return FormatRealServer("-e", o.VS.VSKey, o.RS)
	case OpDeleteRealServer:
		return fmt.Sprintf("-d %s %s -r %s", o.VS.Proto.ipvsadmFlag(), addrPort(o.VS.Addr, o.VS.Port), o.RS.RSKey)
	case OpBindAddress:
		return "addr add " + hostPrefix(o.Addr)
	case OpUnbindAddress:
		return "addr del " + hostPrefix(o.Addr)
	}
	return o.Kind.String()
}

// IsWrite reports whether the operation changes the kernel (all do; it
// exists so counters read naturally).
func (o Op) IsWrite() bool { return o.Kind != 0 }

// Plan is an ordered list of kernel operations that turns an observed state
// into a desired one.
type Plan struct {
	Ops []Op
	// Netfilter, when non-nil, is the complete netfilter intent to apply in
	// one transaction; nil means netfilter is already as desired.
	Netfilter *Netfilter
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Ops) == 0 && p.Netfilter == nil }

// Len is the number of kernel writes the plan performs (a netfilter
// transaction counts as one).
func (p *Plan) Len() int {
	n := len(p.Ops)
	if p.Netfilter != nil {
		n++
	}
	return n
}

// String prints the plan one operation per line; a netfilter rewrite is
// printed as "netfilter replace" followed by the new intent, indented.
func (p *Plan) String() string {
	var b strings.Builder
	for _, o := range p.Ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	if p.Netfilter != nil {
		b.WriteString("netfilter replace\n")
		for _, l := range p.Netfilter.Lines() {
			b.WriteString("  ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func addrPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }

// hostPrefix formats an address as a host route: /32 for IPv4, /128 for IPv6.
func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }
