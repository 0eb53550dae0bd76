//go:build linux

package addr

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// localRoute is one route of the IPv4 local table as the kernel lists or
// notifies it, reduced to what tells ours apart (see RouteProtocol).
type localRoute struct {
	dst      []byte // RTA_DST, valid during the callback only
	dstLen   uint8
	table    uint32 // RTA_TABLE when present, else rtm_table
	protocol uint8
	typ      uint8
	oif      int32
}

// loopbackIndex is the loopback device's index, the same in every network
// namespace (LOOPBACK_IFINDEX): our routes go through it.
const loopbackIndex = 1

// ours reports whether r is a service address's route: a /32 local route
// of RouteProtocol in the local table through the loopback device.
func (r localRoute) ours() bool {
	return r.oif == loopbackIndex && r.table == unix.RT_TABLE_LOCAL &&
		r.typ == unix.RTN_LOCAL && r.protocol == RouteProtocol && r.dstLen == 32 && len(r.dst) == 4
}

// addr is r's destination (IPv4).
func (r localRoute) addr() netip.Addr {
	a, _ := netip.AddrFromSlice(r.dst)
	return a
}

// parseRouteMsg reads an rtmsg and the attributes that localRoute holds.
func parseRouteMsg(p []byte) (localRoute, bool) {
	if len(p) < unix.SizeofRtMsg {
		return localRoute{}, false
	}
	r := localRoute{dstLen: p[1], table: uint32(p[4]), protocol: p[5], typ: p[7]}
	for attrs := p[unix.SizeofRtMsg:]; len(attrs) >= unix.SizeofRtAttr; {
		l := int(nl.NativeEndian().Uint16(attrs))
		if l < unix.SizeofRtAttr || l > len(attrs) {
			return localRoute{}, false
		}
		v := attrs[unix.SizeofRtAttr:l]
		switch nl.NativeEndian().Uint16(attrs[2:]) {
		case unix.RTA_DST:
			r.dst = v
		case unix.RTA_OIF:
			if len(v) >= 4 {
				r.oif = int32(nl.NativeEndian().Uint32(v))
			}
		case unix.RTA_TABLE:
			if len(v) >= 4 {
				r.table = nl.NativeEndian().Uint32(v)
			}
		}
		attrs = attrs[min(nlmsg.Align(l), len(attrs)):]
	}
	return r, true
}

// appendRoute appends an RTM_NEWROUTE (create, exclusive) or RTM_DELROUTE
// of the IPv4 address a's route: the route the kernel adds for an address
// bound to an interface ("local a dev kube-ipvs0 table local scope host src
// a"), but through the loopback device and of RouteProtocol, so that it is
// told apart from the kernel's and from anyone else's (see the package
// documentation for why not through the dummy).
func appendRoute(b []byte, typ uint16, seq uint32, a netip.Addr) []byte {
	ip := a.As4()
	const attrLen = unix.SizeofRtAttr + 4
	l := unix.NLMSG_HDRLEN + unix.SizeofRtMsg + 3*attrLen
	start := len(b)
	b = append(b, make([]byte, l)...)
	m := b[start:]
	e := nl.NativeEndian()
	e.PutUint32(m[0:], uint32(l))
	e.PutUint16(m[4:], typ)
	flags := uint16(unix.NLM_F_REQUEST)
	if typ == unix.RTM_NEWROUTE {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	}
	e.PutUint16(m[6:], flags)
	e.PutUint32(m[8:], seq)
	p := m[unix.NLMSG_HDRLEN:]
	p[0], p[1] = unix.AF_INET, 32
	p[4], p[5], p[6], p[7] = unix.RT_TABLE_LOCAL, RouteProtocol, unix.RT_SCOPE_HOST, unix.RTN_LOCAL
	p = p[unix.SizeofRtMsg:]
	for _, attr := range []struct {
		typ uint16
		v   [4]byte
	}{{unix.RTA_DST, ip}, {unix.RTA_PREFSRC, ip}, {unix.RTA_OIF, intBytes(loopbackIndex)}} {
		e.PutUint16(p[0:], attrLen)
		e.PutUint16(p[2:], attr.typ)
		copy(p[unix.SizeofRtAttr:], attr.v[:])
		p = p[attrLen:]
	}
	return b
}

func intBytes(i int32) (v [4]byte) {
	nl.NativeEndian().PutUint32(v[:], uint32(i))
	return v
}

// routes returns the destinations of our routes (see localRoute.ours), from
// one RTM_GETROUTE dump of the IPv4 tables, unsorted. An interrupted dump
// is repeated from scratch up to dumpRetries times.
func (d *rtSocket) routes() ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.Addr
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofRtMsg)
	req[unix.NLMSG_HDRLEN] = unix.AF_INET
	err := d.dump(unix.RTM_GETROUTE, req, func() { out = out[:0] }, func(m nlmsg.Message) {
		if m.Type != unix.RTM_NEWROUTE {
			return
		}
		if r, ok := parseRouteMsg(m.Payload); ok && r.ours() {
			out = append(out, r.addr())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing local routes: %w", err)
	}
	return out, nil
}
