package ipvs

import (
	"errors"
	"fmt"
	"syscall"

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

// ApplyBatch implements Interface: valid operations are sent batchSize per
// sendmsg on the raw socket, and each kernel answer is mapped as the single
// call maps it. Operations are encoded one batch at a time, so a cold sync
// of 100,000 operations holds no copy of them.
func (k *Kernel) ApplyBatch(ops []model.Op) []error {
	errs := make([]error, len(ops))
	k.mu.Lock()
	defer k.mu.Unlock()
	sockErr := k.sockReady()
	idx := make([]int, 0, batchSize)
	chunk := make([]model.Op, 0, batchSize)
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		errnos, err := k.sock.send(chunk)
		for j, op := range chunk {
			errs[idx[j]] = batchResult(op, errnos, j, err)
		}
		idx, chunk = idx[:0], chunk[:0]
	}
	for i, op := range ops {
		if errs[i] = validateOp(op); errs[i] != nil {
			continue
		}
		if sockErr != nil {
			errs[i] = sockErr
			continue
		}
		idx, chunk = append(idx, i), append(chunk, op)
		if len(chunk) == batchSize {
			flush()
		}
	}
	flush()
	return errs
}

// sockReady makes the raw socket ready: the IPVS family resolved. The
// caller holds k.mu.
func (k *Kernel) sockReady() error { return k.sock.ensureFamily() }

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
