package ipvs

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// genlSocket talks to the IPVS generic netlink family on its own socket:
// many write requests per sendmsg, and dumps. Not safe for concurrent use
// (the Kernel's mutex guards it).
type genlSocket struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte
	rbuf   []byte
	// msgs is reused by read: its messages point into rbuf and are valid
	// until the next read.
	msgs []nlmsg.Message
}

// openGenlSocket opens the socket in the calling thread's network
// namespace. The IPVS family is resolved later, by ensureFamily.
func openGenlSocket() (*genlSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("opening generic netlink socket: %w", err)
	}
	s := &genlSocket{fd: fd, rbuf: make([]byte, 1<<16)}
	if err := s.setup(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

func (s *genlSocket) setup() error {
	if err := unix.Bind(s.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("binding generic netlink socket: %w", err)
	}
	// Acknowledge errors without echoing the request: smaller answers.
	_ = unix.SetsockoptInt(s.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Room for a whole batch of error answers; forcing needs CAP_NET_ADMIN,
	// which the daemon has, otherwise the sysctl-capped size is used.
	if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	// The kernel answers before sendmsg returns; the timeout only bounds a
	// wait for answers that were lost.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("setting netlink receive timeout: %w", err)
	}
	return nil
}

// ensureFamily resolves the IPVS family id once; without IPVS the error
// wraps ErrUnavailable and the next call tries again.
func (s *genlSocket) ensureFamily() error {
	if s.family != 0 {
		return nil
	}
	fam, err := s.resolveFamily()
	if err != nil {
		return unavailable(fmt.Errorf("resolving the IPVS generic netlink family: %w", err))
	}
	s.family = fam
	return nil
}

func (s *genlSocket) close() { unix.Close(s.fd) }

// write sends one buffer of requests.
func (s *genlSocket) write(b []byte) error {
	return unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// read receives one datagram of answers; a datagram larger than the buffer
// is an error rather than silently cut.
func (s *genlSocket) read() ([]nlmsg.Message, error) {
	n, _, flags, _, err := unix.Recvmsg(s.fd, s.rbuf, nil, 0)
	if err != nil {
		return nil, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("netlink answer larger than %d bytes", len(s.rbuf))
	}
	s.msgs, err = nlmsg.Append(s.msgs[:0], s.rbuf[:n])
	return s.msgs, err
}

// resolveFamily asks the generic netlink controller for the IPVS family id.
func (s *genlSocket) resolveFamily() (uint16, error) {
	s.seq++
	req := appendMessage(nil, genlIDCtrl, nlmFAck, s.seq, ctrlCmdGetFm, 1, attrs(nil).str(ctrlAttrName, ipvsGenlName))
	if err := s.write(req); err != nil {
		return 0, err
	}
	var family uint16
	for {
		msgs, err := s.read()
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			switch {
			case m.Seq != s.seq:
			case m.Type == nlmsgError && nlmsg.ErrorCode(m) != 0:
				return 0, syscall.Errno(nlmsg.ErrorCode(m))
			case m.Type == nlmsgError && family == 0:
				return 0, errors.New("no family id in the controller's answer")
			case m.Type == nlmsgError:
				return family, nil
			case m.Type == genlIDCtrl && len(m.Payload) >= genlHdrLen:
				a, err := attrIndex(m.Payload[genlHdrLen:])
				if err != nil {
					return 0, err
				}
				family, _ = attrU16(&a, ctrlAttrFmID)
			}
		}
	}
}

// send performs ops (all valid IPVS operations) in one sendmsg and returns
// each one's errno (0 for success) or the error that lost the answers. Only
// failures and the last request are answered.
func (s *genlSocket) send(ops []model.Op) ([]int32, error) {
	first := s.seq + 1
	s.buf = s.buf[:0]
	for i, op := range ops {
		var flags uint16
		if i == len(ops)-1 {
			flags = nlmFAck
		}
		s.buf = encodeOp(s.buf, s.family, flags, first+uint32(i), op)
	}
	s.seq += uint32(len(ops))
	last := s.seq
	if err := s.write(s.buf); err != nil {
		return nil, fmt.Errorf("sending %d IPVS requests: %w", len(ops), err)
	}
	errnos := make([]int32, len(ops))
	for {
		msgs, err := s.read()
		if err != nil {
			return errnos, fmt.Errorf("reading IPVS acknowledgements: %w", err)
		}
		done := false
		for _, m := range msgs {
			if m.Type != nlmsgError || m.Seq < first || m.Seq > last {
				continue // not an answer to this batch (an abandoned one's)
			}
			errnos[m.Seq-first] = nlmsg.ErrorCode(m)
			done = done || m.Seq == last
		}
		if done {
			return errnos, nil
		}
	}
}

// dump sends a dump request (cmd with payload) and calls each for the
// generic netlink payload of every answer. An answer flagged
// NLM_F_DUMP_INTR makes the error wrap errNLDumpInterrupted, after the
// dump is read to its end.
func (s *genlSocket) dump(cmd uint8, payload attrs, each func(genlPayload []byte) error) error {
	return s.request(nlmFDump, cmd, payload, each)
}

// get sends a request (cmd with payload) answered by one message and an
// acknowledgement, and calls each for the answer's generic netlink
// payload. An error answer is returned as its errno.
func (s *genlSocket) get(cmd uint8, payload attrs, each func(genlPayload []byte) error) error {
	return s.request(nlmFAck, cmd, payload, each)
}

// request sends one request with flags and reads its answers until the
// one that ends them: NLMSG_DONE after a dump, the acknowledgement (or an
// error) after a request.
func (s *genlSocket) request(flags uint16, cmd uint8, payload attrs, each func(genlPayload []byte) error) error {
	s.seq++
	seq := s.seq
	if err := s.write(appendMessage(nil, s.family, flags, seq, cmd, ipvsGenlVer, payload)); err != nil {
		return err
	}
	var intr, eachErr error
	for {
		msgs, err := s.read()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch {
			case m.Seq != seq:
				continue
			case m.Flags&nlmFDumpIntr != 0:
				intr = errNLDumpInterrupted
			}
			switch m.Type {
			case nlmsgDone, nlmsgError:
				if code := nlmsg.ErrorCode(m); code != 0 {
					return syscall.Errno(code)
				}
				return errors.Join(eachErr, intr)
			case s.family:
				if eachErr == nil {
					eachErr = each(m.Payload)
				}
			}
		}
	}
}
