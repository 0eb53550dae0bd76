package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// batchSize is how many requests go in one sendmsg. The kernel handles all
// of them before sendmsg returns, answering only failures and the last one;
// at 256 the messages stay far below the socket's send buffer and the worst
// case (all fail) fits the enlarged receive buffer.
const batchSize = 256

// errAckLost reports a request whose answer was lost (receive buffer
// overflow or timeout): it may or may not have been applied.
var errAckLost = errors.New("no acknowledgement from the kernel; the request may have been applied")

// batchWriter sends IPVS requests on its own generic netlink socket, many
// per sendmsg.
type batchWriter struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte
	rbuf   []byte
}

// openBatchWriter opens the socket and resolves the IPVS family.
func openBatchWriter() (*batchWriter, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("opening generic netlink socket: %w", err)
	}
	w := &batchWriter{fd: fd, rbuf: make([]byte, 1<<16)}
	if err := w.setup(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return w, nil
}

func (w *batchWriter) setup() error {
	if err := unix.Bind(w.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("binding generic netlink socket: %w", err)
	}
	// Acknowledge errors without echoing the request: smaller answers.
	_ = unix.SetsockoptInt(w.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Room for a whole batch of error answers; forcing needs CAP_NET_ADMIN,
	// which the daemon has, otherwise the sysctl-capped size is used.
	if unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("setting netlink receive timeout: %w", err)
	}
	fam, err := w.resolveFamily()
	if err != nil {
		return unavailable(fmt.Errorf("resolving the IPVS generic netlink family: %w", err))
	}
	w.family = fam
	return nil
}

func (w *batchWriter) close() { unix.Close(w.fd) }

// resolveFamily asks the generic netlink controller for the IPVS family id.
func (w *batchWriter) resolveFamily() (uint16, error) {
	w.seq++
	req := appendMessage(nil, genlIDCtrl, nlmFAck, w.seq, ctrlCmdGetFm, 1, attrs(nil).str(ctrlAttrName, ipvsGenlName))
	if err := unix.Sendto(w.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	var family uint16
	for {
		n, _, err := unix.Recvfrom(w.fd, w.rbuf, 0)
		if err != nil {
			return 0, err
		}
		b := w.rbuf[:n]
		for len(b) >= nlmsgHdrLen {
			l := int(binary.NativeEndian.Uint32(b))
			if l < nlmsgHdrLen || l > len(b) {
				return 0, fmt.Errorf("malformed netlink message")
			}
			typ, seq := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:])
			switch {
			case seq != w.seq:
			case typ == nlmsgError:
				if code := int32(binary.NativeEndian.Uint32(b[nlmsgHdrLen:])); code != 0 {
					return 0, syscall.Errno(-code)
				}
				if family == 0 {
					return 0, errors.New("no family id in the controller's answer")
				}
				return family, nil
			case typ == genlIDCtrl:
				family = findU16(b[nlmsgHdrLen+genlHdrLen:l], ctrlAttrFmID)
			}
			b = b[min(align4(l), len(b)):]
		}
	}
}

// findU16 returns the value of a top-level u16 attribute, 0 if absent.
func findU16(b []byte, typ uint16) uint16 {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return 0
		}
		if binary.NativeEndian.Uint16(b[2:])&0x3fff == typ && l >= 6 {
			return binary.NativeEndian.Uint16(b[4:])
		}
		b = b[min(align4(l), len(b)):]
	}
	return 0
}

// send performs ops (all valid IPVS operations) in one sendmsg and returns
// each one's errno (0 for success) or the error that lost its answer.
func (w *batchWriter) send(ops []model.Op) ([]int32, error) {
	first := w.seq + 1
	w.buf = w.buf[:0]
	for i, op := range ops {
		var flags uint16
		if i == len(ops)-1 {
			flags = nlmFAck // only the last request is acknowledged on success
		}
		w.buf = encodeOp(w.buf, w.family, flags, first+uint32(i), op)
	}
	w.seq += uint32(len(ops))
	last := w.seq
	if err := unix.Sendto(w.fd, w.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending %d IPVS requests: %w", len(ops), err)
	}
	errnos := make([]int32, len(ops))
	for {
		n, _, err := unix.Recvfrom(w.fd, w.rbuf, 0)
		if err != nil {
			return errnos, fmt.Errorf("reading IPVS acknowledgements: %w", err)
		}
		acks, err := parseAcks(w.rbuf[:n])
		if err != nil {
			return errnos, err
		}
		done := false
		for _, a := range acks {
			if a.seq < first || a.seq > last {
				continue // answer to an earlier, abandoned batch
			}
			errnos[a.seq-first] = a.errno
			done = done || a.seq == last
		}
		if done {
			return errnos, nil
		}
	}
}

// ApplyBatch implements Interface: valid operations are sent batchSize per
// sendmsg on a second netlink socket (opened on first use), and each
// kernel answer is mapped as the single call maps it.
func (k *Kernel) ApplyBatch(ops []model.Op) []error {
	errs := make([]error, len(ops))
	var idx []int
	var valid []model.Op
	for i, op := range ops {
		if errs[i] = validateOp(op); errs[i] == nil {
			idx, valid = append(idx, i), append(valid, op)
		}
	}
	if len(valid) == 0 {
		return errs
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.batch == nil {
		w, err := openBatchWriter()
		if err != nil {
			for _, i := range idx {
				errs[i] = err
			}
			return errs
		}
		k.batch = w
	}
	for start := 0; start < len(valid); start += batchSize {
		chunk := valid[start:min(start+batchSize, len(valid))]
		errnos, err := k.batch.send(chunk)
		for j, op := range chunk {
			errs[idx[start+j]] = batchResult(op, errnos, j, err)
		}
	}
	return errs
}

// batchResult is the error of the j-th operation of a sent batch. Success
// is not acknowledged (only the last request is), so when the answers were
// cut short (err set) every operation without an error answer is reported
// as lost: it may have been applied.
func batchResult(op model.Op, errnos []int32, j int, err error) error {
	c, _ := opCall(op.Kind)
	if errnos != nil && errnos[j] != 0 {
		return opError(c, op, syscall.Errno(errnos[j]))
	}
	if err != nil {
		return opError(c, op, fmt.Errorf("%w: %w", errAckLost, err))
	}
	return nil
}

// opError maps a kernel error of an operation as the single calls do.
func opError(c Call, op model.Op, err error) error {
	switch c {
	case CallAddVirtualServer, CallUpdateVirtualServer, CallDeleteVirtualServer:
		return vsError(c, op.VS, err)
	}
	return rsError(c, op.VS.VSKey, op.RS.RSKey, err)
}
