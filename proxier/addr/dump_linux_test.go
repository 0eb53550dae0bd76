//go:build linux

package addr

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// rtattr encodes one route attribute.
func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, nlmsg.Align(unix.SizeofRtAttr+len(v)))
	nl.NativeEndian().PutUint16(b, uint16(unix.SizeofRtAttr+len(v)))
	nl.NativeEndian().PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], v)
	return b
}

// nlMessage encodes one netlink message.
func nlMessage(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(payload))
	nl.NativeEndian().PutUint32(b, uint32(unix.NLMSG_HDRLEN+len(payload)))
	nl.NativeEndian().PutUint16(b[4:], typ)
	nl.NativeEndian().PutUint16(b[6:], flags)
	nl.NativeEndian().PutUint32(b[8:], seq)
	return append(b, payload...)
}

// newAddr encodes an RTM_NEWADDR of link index with the given attributes.
func newAddr(seq uint32, index int32, flags uint8, attrs ...[]byte) []byte {
	p := make([]byte, unix.SizeofIfAddrmsg)
	p[2] = flags
	nl.NativeEndian().PutUint32(p[4:], uint32(index))
	for _, a := range attrs {
		p = append(p, a...)
	}
	return nlMessage(unix.RTM_NEWADDR, unix.NLM_F_MULTI, seq, p)
}

func ipBytes(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func done(seq uint32) []byte {
	return nlMessage(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4))
}

func flagsWord(f uint32) []byte {
	b := make([]byte, 4)
	nl.NativeEndian().PutUint32(b, f)
	return b
}

// TestParseDump: the in-place parser of address dumps reads what
// vishvananda/netlink's AddrList did: IFA_LOCAL before IFA_ADDRESS (the
// peer of a point-to-point IPv4 link), IFA_FLAGS over the header's flags,
// messages of another request skipped, and the end, an error or an
// interruption reported.
func TestParseDump(t *testing.T) {
	type got struct {
		index int32
		ip    netip.Addr
		flags uint32
	}
	buf := slices.Concat(
		newAddr(7, 2, 0, rtattr(unix.IFA_ADDRESS, ipBytes("198.18.0.10")), rtattr(unix.IFA_LOCAL, ipBytes("198.18.0.10"))),
		newAddr(7, 3, 0, rtattr(unix.IFA_ADDRESS, ipBytes("198.18.9.9")), rtattr(unix.IFA_LOCAL, ipBytes("198.18.1.1"))),
		newAddr(7, 2, unix.IFA_F_NODAD, rtattr(unix.IFA_ADDRESS, ipBytes("fd00:96::1")),
			rtattr(unix.IFA_FLAGS, flagsWord(unix.IFA_F_NODAD|unix.IFA_F_NOPREFIXROUTE))),
		newAddr(6, 2, 0, rtattr(unix.IFA_ADDRESS, ipBytes("198.18.0.99"))), // an older request's
		newAddr(7, 4, 0, rtattr(unix.IFA_LABEL, []byte("eth0\x00"))),       // no address: skipped
		done(7),
	)
	var out []got
	var intr bool
	end, err := parseDump(buf, 7, &intr, func(m nlmsg.Message) {
		if a, ok := parseAddrMsg(m.Payload); ok {
			ip, _ := netip.AddrFromSlice(a.ip)
			out = append(out, got{a.index, ip, a.flags})
		}
	})
	if err != nil || !end || intr {
		t.Fatalf("done %v, interrupted %v, err %v", end, intr, err)
	}
	want := []got{{2, netip.MustParseAddr("198.18.0.10"), 0}, {3, netip.MustParseAddr("198.18.1.1"), 0},
		{2, netip.MustParseAddr("fd00:96::1"), unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE}}
	if !slices.Equal(out, want) {
		t.Errorf("parsed %v, want %v", out, want)
	}

	// A buffer without the end asks for more; an interrupted dump is
	// flagged; an error ends it with its errno.
	intrMsg := newAddr(8, 2, 0, rtattr(unix.IFA_ADDRESS, ipBytes("198.18.0.11")))
	nl.NativeEndian().PutUint16(intrMsg[6:], unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR)
	if end, err := parseDump(intrMsg, 8, &intr, func(nlmsg.Message) {}); end || err != nil || !intr {
		t.Errorf("interrupted message: done %v, err %v, flagged %v", end, err, intr)
	}
	errMsg := nlMessage(unix.NLMSG_ERROR, 0, 9, flagsWord(uint32(0xffffffff)-uint32(unix.EINVAL)+1))
	if _, err := parseDump(errMsg, 9, &intr, func(nlmsg.Message) {}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("error message: %v, want EINVAL", err)
	}
	if _, err := parseDump(buf[:20], 7, &intr, func(nlmsg.Message) {}); err == nil {
		t.Error("truncated message accepted")
	}
}
