//go:build linux

package addr

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// TestAppendNewAddr: the adds BindAll batches carry what Bind sends (a
// host prefix on the dummy's index; IPv6 without DAD nor prefix route),
// each with its own sequence number, and read back as those addresses.
func TestAppendNewAddr(t *testing.T) {
	var req []byte
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("fd00:96::1")}
	for i, a := range addrs {
		req = appendNewAddr(req, 40+uint32(i), 7, a)
	}
	type msg struct {
		seq    uint32
		flags  uint16
		prefix byte
		index  int32
		ip     netip.Addr
		ifa    uint32
	}
	var got []msg
	for b := req; len(b) > 0; {
		l := int(nl.NativeEndian().Uint32(b))
		m := msg{seq: nl.NativeEndian().Uint32(b[8:]), flags: nl.NativeEndian().Uint16(b[6:]), prefix: b[unix.NLMSG_HDRLEN+1]}
		if typ := nl.NativeEndian().Uint16(b[4:]); typ != unix.RTM_NEWADDR {
			t.Fatalf("message type %d", typ)
		}
		a, ok := parseAddrMsg(b[unix.NLMSG_HDRLEN:l])
		if !ok {
			t.Fatalf("unreadable message %x", b[:l])
		}
		m.index, m.ifa = a.index, a.flags
		m.ip, _ = netip.AddrFromSlice(a.ip)
		got = append(got, m)
		b = b[nlmsg.Align(l):]
	}
	create := uint16(unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_EXCL)
	want := []msg{{40, create, 32, 7, addrs[0], 0}, {41, create, 128, 7, addrs[1], unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE}}
	if !slices.Equal(got, want) {
		t.Errorf("messages %+v, want %+v", got, want)
	}
}

// TestParseAcks: the answers of one batch are read by sequence number;
// those of another batch are skipped, and the last one's answer ends it.
func TestParseAcks(t *testing.T) {
	ack := func(seq uint32, errno syscall.Errno) []byte {
		return nlMessage(unix.NLMSG_ERROR, 0, seq, flagsWord(uint32(-int32(errno))))
	}
	buf := slices.Concat(ack(3, unix.EEXIST), ack(11, unix.EINVAL), ack(12, unix.EEXIST), ack(14, 0))
	got := map[uint32]syscall.Errno{}
	ended, err := parseAcks(buf, 11, 14, func(seq uint32, errno syscall.Errno) { got[seq] = errno })
	if err != nil || !ended {
		t.Fatalf("ended %v, err %v", ended, err)
	}
	want := map[uint32]syscall.Errno{11: unix.EINVAL, 12: unix.EEXIST, 14: 0}
	if len(got) != len(want) || got[11] != want[11] || got[12] != want[12] || got[14] != 0 {
		t.Errorf("acks %v, want %v", got, want)
	}
	if ended, _ := parseAcks(ack(12, 0), 11, 14, func(uint32, syscall.Errno) {}); ended {
		t.Error("an answer before the last ended the batch")
	}
}
