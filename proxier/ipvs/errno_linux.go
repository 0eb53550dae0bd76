package ipvs

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// errNLDumpInterrupted reports a dump answer flagged NLM_F_DUMP_INTR: the
// kernel saw the table change during the dump. (IPVS does not flag its dumps
// today; the check costs nothing and covers kernels that will.)
var errNLDumpInterrupted = errors.New("dump interrupted (NLM_F_DUMP_INTR)")

// vsError maps the kernel's reply to a virtual server request (see
// ip_vs_genl_set_cmd in net/netfilter/ipvs/ip_vs_ctl.c):
//
//	ESRCH   no such service (update, delete)       → ErrNotFound, nil for delete
//	EEXIST  service exists (add)                    → ErrExists
//	ENOENT  no such scheduler module (add, update)  → ErrSchedulerMissing
func vsError(c Call, vs model.VirtualServer, err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	subject := vs.VSKey.String()
	switch {
	case errno == syscall.ESRCH && c == CallDeleteVirtualServer:
		return nil
	case errno == syscall.ESRCH:
		return callError(c, subject, ErrNotFound, err)
	case errno == syscall.EEXIST:
		return callError(c, subject, ErrExists, err)
	case errno == syscall.ENOENT && vs.Scheduler != "":
		return callError(c, subject, fmt.Errorf("%w: %s", ErrSchedulerMissing, SchedulerModule(vs.Scheduler)), err)
	}
	return callError(c, subject, nil, err)
}

// rsError maps the kernel's reply to a real server request:
//
//	ESRCH   no such service                  → ErrNotFound, nil for delete
//	ENOENT  no such destination (update, del) → ErrNotFound, nil for delete
//	EEXIST  destination exists (add)          → ErrExists
func rsError(c Call, vs model.VSKey, rs model.RSKey, err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	subject := rsSubject(vs, rs)
	switch {
	case (errno == syscall.ESRCH || errno == syscall.ENOENT) && c == CallDeleteRealServer:
		return nil
	case errno == syscall.ESRCH:
		return callError(c, subject, fmt.Errorf("virtual server %w", ErrNotFound), err)
	case errno == syscall.ENOENT:
		return callError(c, subject, ErrNotFound, err)
	case errno == syscall.EEXIST:
		return callError(c, subject, ErrExists, err)
	}
	return callError(c, subject, nil, err)
}
