package conntrack

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Interface reads and deletes connection-tracking entries.
type Interface interface {
	// List returns every entry of both address families whose protocol is
	// proto (0 means all protocols). The dump is retried when the kernel
	// reports it was interrupted by concurrent changes.
	List(proto model.Protocol) ([]Entry, error)
	// Clear deletes every entry that matches at least one filter and
	// returns how many it deleted. No filters means no kernel call. Entries
	// that vanish during the call (expired, deleted by someone else) are not
	// errors. When some deletions fail, Clear still deletes the others and
	// returns their count with an error.
	Clear(filters ...Filter) (int, error)
}

// Tuple is one direction of a flow.
type Tuple struct {
	Src, Dst netip.AddrPort
}

// String formats the tuple as "src->dst".
func (t Tuple) String() string { return t.Src.String() + "->" + t.Dst.String() }

// Entry is one connection-tracking entry.
type Entry struct {
	Proto model.Protocol
	// Orig is the flow as the client sent it: client to service address.
	Orig Tuple
	// Reply is the expected answer: from the real server (after DNAT) to
	// the client (or to the masquerade address).
	Reply Tuple
}

// String formats the entry as "udp 198.18.0.1:4000->10.96.0.10:53 reply
// 10.244.1.5:53->198.18.0.1:4000".
func (e Entry) String() string {
	return fmt.Sprintf("%s %s reply %s", e.Proto, e.Orig, e.Reply)
}

// Filter selects entries. Zero fields match anything; Proto must be set.
type Filter struct {
	Proto model.Protocol
	// OrigDst and OrigDstPort match the original destination: the service
	// address and port the client sent to.
	OrigDst     netip.Addr
	OrigDstPort uint16
	// ReplySrc and ReplySrcPort match the reply source: the real server
	// that answers.
	ReplySrc     netip.Addr
	ReplySrcPort uint16
}

// ForService selects every entry to a service address:port.
func ForService(proto model.Protocol, vip netip.Addr, port uint16) Filter {
	return Filter{Proto: proto, OrigDst: vip, OrigDstPort: port}
}

// ForEndpoint selects the entries to a service address:port answered by one
// endpoint (its address and port, as the real server is programmed).
func ForEndpoint(proto model.Protocol, vip netip.Addr, port uint16, endpoint netip.AddrPort) Filter {
	return Filter{Proto: proto, OrigDst: vip, OrigDstPort: port,
		ReplySrc: endpoint.Addr(), ReplySrcPort: endpoint.Port()}
}

// Validate reports a filter that would match too much or can never match.
func (f Filter) Validate() error {
	if f.Proto == 0 {
		return fmt.Errorf("conntrack filter %s: no protocol", f)
	}
	if !f.OrigDst.IsValid() && !f.ReplySrc.IsValid() && f.OrigDstPort == 0 {
		return fmt.Errorf("conntrack filter %s: selects every %s entry", f, f.Proto)
	}
	if f.OrigDst.IsValid() && f.ReplySrc.IsValid() && f.OrigDst.Is4() != f.ReplySrc.Is4() {
		return fmt.Errorf("conntrack filter %s: mixes address families", f)
	}
	return nil
}

// Match reports whether the entry matches the filter.
func (f Filter) Match(e Entry) bool {
	switch {
	case f.Proto != e.Proto:
		return false
	case f.OrigDst.IsValid() && f.OrigDst != e.Orig.Dst.Addr():
		return false
	case f.OrigDstPort != 0 && f.OrigDstPort != e.Orig.Dst.Port():
		return false
	case f.ReplySrc.IsValid() && f.ReplySrc != e.Reply.Src.Addr():
		return false
	case f.ReplySrcPort != 0 && f.ReplySrcPort != e.Reply.Src.Port():
		return false
	}
	return true
}

// families returns the address families the filter can match: 4, 6 or
// both.
func (f Filter) families() (v4, v6 bool) {
	for _, a := range []netip.Addr{f.OrigDst, f.ReplySrc} {
		if a.IsValid() {
			return a.Is4(), !a.Is4()
		}
	}
	return true, true
}

// String formats the filter in the conntrack command's vocabulary, e.g.
// "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.5".
func (f Filter) String() string {
	parts := []string{"-p " + f.Proto.String()}
	if f.OrigDst.IsValid() {
		parts = append(parts, "--orig-dst "+f.OrigDst.String())
	}
	if f.OrigDstPort != 0 {
		parts = append(parts, fmt.Sprintf("--orig-port-dst %d", f.OrigDstPort))
	}
	if f.ReplySrc.IsValid() {
		parts = append(parts, "--reply-src "+f.ReplySrc.String())
	}
	if f.ReplySrcPort != 0 {
		parts = append(parts, fmt.Sprintf("--reply-port-src %d", f.ReplySrcPort))
	}
	return strings.Join(parts, " ")
}

// matchAny reports whether any filter matches the entry.
func matchAny(filters []Filter, e Entry) bool {
	for _, f := range filters {
		if f.Match(e) {
			return true
		}
	}
	return false
}
