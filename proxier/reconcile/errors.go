package reconcile

import (
	"errors"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
)

// ErrForeign reports a virtual server that exists in the kernel but belongs
// to neither ipvs-proxy nor kube-proxy (keepalived, a hand-made ipvsadm
// entry): the engine never changes or deletes it, so a service claiming it
// fails that virtual server instead of taking it over.
var ErrForeign = errors.New("virtual server exists and belongs to another program")

// The reasons a kernel object fails or waits: the label of the object
// errors metric and the start of its event.
const (
	// ReasonInvalid: the kernel refused the value (EINVAL and kin), or the
	// adapter did before sending it.
	ReasonInvalid = "invalid"
	// ReasonSchedulerMissing: the kernel has no module for the scheduler.
	ReasonSchedulerMissing = "scheduler-missing"
	// ReasonForeign: the virtual server belongs to another program.
	ReasonForeign = "foreign"
	// ReasonExhausted: transient errors went on for maxAttempts attempts.
	ReasonExhausted = "retries-exhausted"
	// ReasonTransient: a pending retry (ENOMEM, ENOBUFS, EBUSY, EINTR and
	// every error not known to be permanent).
	ReasonTransient = "transient"
)

// permanentErrnos are the kernel's answers that repeating the same request
// cannot change.
var permanentErrnos = map[syscall.Errno]string{
	syscall.EINVAL:        ReasonInvalid,
	syscall.EAFNOSUPPORT:  ReasonInvalid,
	syscall.EADDRNOTAVAIL: ReasonInvalid,
	syscall.ERANGE:        ReasonInvalid,
	syscall.EOPNOTSUPP:    ReasonInvalid,
}

// classify tells a kernel refusal that retrying cannot fix (permanent: the
// object fails until it changes) from a transient error (backed off and
// retried). Unknown errors are transient: a retry that ends (maxAttempts)
// costs little, a wrongly failed object costs a service.
func classify(err error) (reason string, permanent bool) {
	switch {
	case errors.Is(err, ErrForeign):
		return ReasonForeign, true
	case errors.Is(err, ipvs.ErrSchedulerMissing):
		return ReasonSchedulerMissing, true
	case errors.Is(err, ipvs.ErrInvalid):
		return ReasonInvalid, true
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if r, ok := permanentErrnos[errno]; ok {
			return r, true
		}
	}
	return ReasonTransient, false
}
