package ipvs

import (
	"errors"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Sentinel errors. Check them with errors.Is: the errors returned wrap them
// with the object concerned.
var (
	// ErrExists reports that an added object is already in the table.
	ErrExists = errors.New("already exists")
	// ErrNotFound reports that an updated object, or the virtual server of a
	// real server operation, is not in the table.
	ErrNotFound = errors.New("not found")
	// ErrInvalid reports a value rejected before reaching the kernel.
	ErrInvalid = errors.New("invalid")
	// ErrSchedulerMissing reports that the kernel has no module for the
	// requested scheduler (ip_vs_<name>).
	ErrSchedulerMissing = errors.New("scheduler module not loaded")
	// ErrUnavailable reports that the kernel has no working IPVS.
	ErrUnavailable = errors.New("IPVS unavailable")
	// ErrDumpInterrupted reports that a table dump kept changing under us
	// after every retry.
	ErrDumpInterrupted = errors.New("dump interrupted by concurrent changes")
)

// Interface is what the daemon's start and the reconcile engine need from
// IPVS. Kernel implements it on the real kernel and Fake in memory; both
// follow the error behaviour written on each method.
type Interface interface {
	// Probe proves that IPVS works. It returns an error wrapping
	// ErrUnavailable that names the kernel modules to load when it does not.
	Probe() error
	// Schedulers returns the IPVS schedulers the kernel offers (see
	// DiscoverSchedulers). It cannot fail: what cannot be read is left out,
	// and Schedulers.Complete says whether the list is the whole truth.
	// ProbeScheduler proves that one works.
	Schedulers() Schedulers

	// ListServices returns every virtual server with its real servers, sorted
	// by key (reals sorted too). Firewall-mark services, which this project
	// never creates, are left out. Dumps interrupted by concurrent changes are
	// retried. If the last attempt still repeated entries, its list is
	// returned with the repeats removed; if the kernel flagged it
	// interrupted, the error wraps ErrDumpInterrupted.
	ListServices() ([]*model.Service, error)
	// ListVirtualServers returns every virtual server without its real
	// servers, sorted by key: one dump, for checking which exist without
	// reading their destinations. Repeats and interruptions are handled as
	// in ListServices.
	ListVirtualServers() ([]model.VirtualServer, error)
	// ListRealServers returns the real servers of one virtual server, sorted.
	// Like the kernel's dump, it cannot tell a missing virtual server from
	// one without real servers: both give an empty list and a nil error.
	ListRealServers(vs model.VSKey) ([]model.RealServer, error)
	// GetService returns one virtual server with its real servers (sorted),
	// or nil when the kernel has no such virtual server: a request for the
	// virtual server, then a dump of its real servers. Unlike
	// ListRealServers it tells a missing virtual server from an empty one.
	GetService(vs model.VSKey) (*model.Service, error)

	// AddVirtualServer creates a virtual server. It returns an error wrapping
	// ErrExists if one with the same key exists, ErrSchedulerMissing if the
	// scheduler's module is missing.
	AddVirtualServer(vs model.VirtualServer) error
	// UpdateVirtualServer sets the scheduler, flags and persistence timeout of
	// an existing virtual server. It returns an error wrapping ErrNotFound if
	// there is none with this key.
	UpdateVirtualServer(vs model.VirtualServer) error
	// DeleteVirtualServer deletes a virtual server and its real servers. It
	// returns nil if there is none with this key.
	DeleteVirtualServer(key model.VSKey) error

	// AddRealServer adds a masqueraded real server to a virtual server. It
	// returns an error wrapping ErrExists if the real server exists and
	// ErrNotFound if the virtual server does not.
	AddRealServer(vs model.VSKey, rs model.RealServer) error
	// UpdateRealServer sets the weight of an existing real server. It returns
	// an error wrapping ErrNotFound if the real server or its virtual server
	// does not exist.
	UpdateRealServer(vs model.VSKey, rs model.RealServer) error
	// DeleteRealServer removes a real server. It returns nil if the real
	// server or its virtual server does not exist.
	DeleteRealServer(vs model.VSKey, rs model.RSKey) error

	// RealServerStats returns the active and inactive connection counts of
	// each real server of a virtual server, for draining. A missing virtual
	// server has no real servers: the map is empty and the error nil.
	RealServerStats(vs model.VSKey) (map[model.RSKey]model.RealServerStats, error)

	// ApplyBatch performs IPVS plan operations (the six virtual and real
	// server kinds of model.OpKind) in order and returns one error per
	// operation, nil for success, each as the matching single call would
	// return it. A failure does not stop the operations after it. Kernel
	// sends many operations per netlink write; other kinds fail with
	// ErrInvalid.
	ApplyBatch(ops []model.Op) []error

	// Timeouts returns the IPVS connection timeouts.
	Timeouts() (Timeouts, error)
	// SetTimeouts sets the IPVS connection timeouts; a zero field keeps the
	// system value. Values are whole seconds: a negative or sub-second
	// non-zero field returns an error wrapping ErrInvalid.
	SetTimeouts(t Timeouts) error
}

// Timeouts are the IPVS connection timeouts (ipvsadm --set tcp tcpfin udp).
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}
