//go:build linux

package addr

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// errDumpInterrupted: the kernel flagged a dump that changed while it ran
// (NLM_F_DUMP_INTR); it is repeated.
var errDumpInterrupted = errors.New("address dump interrupted by a concurrent change")

// rtSocket is the adapter's own rtnetlink socket for its hot paths, used
// without vishvananda/netlink's message objects: address and route dumps
// parsed in place (here and route_linux.go) and batched binds
// (bind_linux.go). AddrList built a
// netlink.Addr with several allocations per address, and List (the dummy's
// 10,000 addresses at 10,000 services) and NodeAddresses (every link's) run
// on every repair cycle: in the VM at 10k they had allocated 283 MB in six
// minutes.
type rtSocket struct {
	mu   sync.Mutex
	sock *nl.NetlinkSocket
	buf  []byte
	seq  uint32
}

// newRTSocket opens the socket in ns (netns.None(): the caller's).
func newRTSocket(ns netns.NsHandle) (*rtSocket, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink socket: %w", err)
	}
	return &rtSocket{sock: s, buf: make([]byte, 1<<16)}, nil
}

func (d *rtSocket) close() { d.sock.Close() }

// collect returns the addresses keep accepts among those of every link,
// canonical (IPv4 as 4 bytes), unsorted, from one RTM_GETADDR dump.
func (d *rtSocket) collect(keep func(ifAddr) bool) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.Addr
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfAddrmsg)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	err := d.dump(unix.RTM_GETADDR, req, func() { out = out[:0] }, func(m nlmsg.Message) {
		if m.Type != unix.RTM_NEWADDR {
			return
		}
		if a, ok := parseAddrMsg(m.Payload); ok && keep(a) {
			ip, _ := netip.AddrFromSlice(a.ip)
			out = append(out, ip.Unmap())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	return out, nil
}

// dump sends the dump request req (its header is filled in here, its body
// by the caller) and gives each message of the answer to fn. A dump the
// kernel flags as interrupted is repeated from scratch, after reset, up to
// dumpRetries times. The caller holds d.mu.
func (d *rtSocket) dump(typ uint16, req []byte, reset func(), fn func(nlmsg.Message)) error {
	var err error
	for range dumpRetries {
		reset()
		if err = d.dumpOnce(typ, req, fn); !errors.Is(err, errDumpInterrupted) {
			break
		}
	}
	return err
}

func (d *rtSocket) dumpOnce(typ uint16, req []byte, fn func(nlmsg.Message)) error {
	d.seq++
	nl.NativeEndian().PutUint32(req[0:], uint32(len(req)))
	nl.NativeEndian().PutUint16(req[4:], typ)
	nl.NativeEndian().PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	nl.NativeEndian().PutUint32(req[8:], d.seq)
	fd := d.sock.GetFd()
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	intr := false
	for {
		n, _, flags, _, err := unix.Recvmsg(fd, d.buf, nil, 0)
		if err != nil {
			return err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return fmt.Errorf("rtnetlink answer larger than %d bytes", len(d.buf))
		}
		done, err := parseDump(d.buf[:n], d.seq, &intr, fn)
		if done || err != nil {
			if err == nil && intr {
				err = errDumpInterrupted
			}
			return err
		}
	}
}

// ifAddr is one address of a link as the kernel lists it.
type ifAddr struct {
	index int32
	ip    []byte // 4 or 16 bytes, valid during the callback only
	flags uint32
}

// parseDump reads one receive buffer of a dump with sequence number seq:
// fn gets each message but the last; done reports the end of the dump.
func parseDump(b []byte, seq uint32, intr *bool, fn func(nlmsg.Message)) (done bool, err error) {
	msgs, err := nlmsg.Append(nil, b)
	for _, m := range msgs {
		if m.Seq != seq {
			continue // the answer to an earlier, abandoned request
		}
		if m.Flags&unix.NLM_F_DUMP_INTR != 0 {
			*intr = true
		}
		switch m.Type {
		case unix.NLMSG_DONE, unix.NLMSG_ERROR:
			if code := nlmsg.ErrorCode(m); code != 0 {
				return true, syscall.Errno(code)
			}
			return true, nil
		default:
			fn(m)
		}
	}
	return false, err
}

// parseAddrMsg reads an ifaddrmsg and its attributes. The address is
// IFA_LOCAL when present (IPv4 sends it, and IFA_ADDRESS is then the peer
// of a point-to-point link), else IFA_ADDRESS; IFA_FLAGS, when present,
// holds the whole flags word.
func parseAddrMsg(p []byte) (ifAddr, bool) {
	if len(p) < unix.SizeofIfAddrmsg {
		return ifAddr{}, false
	}
	a := ifAddr{flags: uint32(p[2]), index: int32(nl.NativeEndian().Uint32(p[4:]))}
	var local, address []byte
	for attrs := p[unix.SizeofIfAddrmsg:]; len(attrs) >= unix.SizeofRtAttr; {
		l := int(nl.NativeEndian().Uint16(attrs))
		if l < unix.SizeofRtAttr || l > len(attrs) {
			return ifAddr{}, false
		}
		v := attrs[unix.SizeofRtAttr:l]
		switch nl.NativeEndian().Uint16(attrs[2:]) {
		case unix.IFA_LOCAL:
			local = v
		case unix.IFA_ADDRESS:
			address = v
		case unix.IFA_FLAGS:
			if len(v) >= 4 {
				a.flags = nl.NativeEndian().Uint32(v)
			}
		}
		attrs = attrs[min(nlmsg.Align(l), len(attrs)):]
	}
	a.ip = address
	if local != nil {
		a.ip = local
	}
	return a, len(a.ip) == 4 || len(a.ip) == 16
}
