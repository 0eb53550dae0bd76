//go:build linux

package addr

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// TestAppendRoute: the route that binds an IPv4 address is the kernel's own
// for a bound address (local /32 in the local table, host scope, the address
// as preferred source) but through the loopback device and of
// RouteProtocol; an add is exclusive, so a route already there (ours, or the
// kernel's for an address on the dummy) answers EEXIST; a delete carries the
// same fields, so it matches ours only.
func TestAppendRoute(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.10")
	for _, tc := range []struct {
		typ   uint16
		flags uint16
	}{
		{unix.RTM_NEWROUTE, unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_EXCL},
		{unix.RTM_DELROUTE, unix.NLM_F_REQUEST},
	} {
		b := appendRoute([]byte{1, 2, 3, 4}, tc.typ, 41, a)[4:]
		e := nl.NativeEndian()
		if l := int(e.Uint32(b)); l != len(b) {
			t.Fatalf("length %d, message %d bytes", l, len(b))
		}
		if typ, flags, seq := e.Uint16(b[4:]), e.Uint16(b[6:]), e.Uint32(b[8:]); typ != tc.typ || flags != tc.flags || seq != 41 {
			t.Errorf("type %d flags %#x seq %d, want %d %#x 41", typ, flags, seq, tc.typ, tc.flags)
		}
		p := b[unix.NLMSG_HDRLEN:]
		if fam, scope := p[0], p[6]; fam != unix.AF_INET || scope != unix.RT_SCOPE_HOST {
			t.Errorf("family %d scope %d", fam, scope)
		}
		r, ok := parseRouteMsg(p)
		if !ok || !r.ours() || r.addr() != a || r.oif != 1 {
			t.Errorf("parsed %+v (ok %v): not our route to %s through lo (index 1)", r, ok, a)
		}
		if src := attr(p[unix.SizeofRtMsg:], unix.RTA_PREFSRC); !slices.Equal(src, a.AsSlice()) {
			t.Errorf("preferred source %v, want %s", src, a)
		}
	}
}

// TestRouteOurs: only a /32 local route of RouteProtocol in the local table
// through lo is a bound address; the kernel's route for an address, anyone
// else's local route, ours through another device and routes of other tables
// are not.
func TestRouteOurs(t *testing.T) {
	base := func() []byte {
		return appendRoute(nil, unix.RTM_NEWROUTE, 1, netip.MustParseAddr("198.18.0.10"))[unix.NLMSG_HDRLEN:]
	}
	for name, tc := range map[string]struct {
		mutate func(p []byte)
		ours   bool
	}{
		"ours":            {func([]byte) {}, true},
		"kernel's":        {func(p []byte) { p[5] = unix.RTPROT_KERNEL }, false},
		"static":          {func(p []byte) { p[5] = unix.RTPROT_STATIC }, false},
		"main table":      {func(p []byte) { p[4] = unix.RT_TABLE_MAIN }, false},
		"unicast":         {func(p []byte) { p[7] = unix.RTN_UNICAST }, false},
		"a /24":           {func(p []byte) { p[1] = 24 }, false},
		"through index 7": {func(p []byte) { nl.NativeEndian().PutUint32(attr(p[unix.SizeofRtMsg:], unix.RTA_OIF), 7) }, false},
	} {
		p := base()
		tc.mutate(p)
		r, ok := parseRouteMsg(p)
		if !ok {
			t.Fatalf("%s: unreadable", name)
		}
		if got := r.ours(); got != tc.ours {
			t.Errorf("%s: ours %v, want %v", name, got, tc.ours)
		}
	}
	// RTA_TABLE, when present, is the table (rtm_table says 252+ "see attribute").
	p := append(base(), rtattr(unix.RTA_TABLE, flagsWord(unix.RT_TABLE_MAIN))...)
	if r, _ := parseRouteMsg(p); r.ours() {
		t.Error("a route whose RTA_TABLE is main counted as ours")
	}
	if _, ok := parseRouteMsg(p[:unix.SizeofRtMsg-1]); ok {
		t.Error("truncated rtmsg accepted")
	}
}

// attr returns the value of the attribute typ among attrs (nil if absent).
func attr(attrs []byte, typ uint16) []byte {
	for len(attrs) >= unix.SizeofRtAttr {
		l := int(nl.NativeEndian().Uint16(attrs))
		if nl.NativeEndian().Uint16(attrs[2:]) == typ {
			return attrs[unix.SizeofRtAttr:l]
		}
		attrs = attrs[(l+3)&^3:]
	}
	return nil
}
