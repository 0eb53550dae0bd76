package reconcile

import (
	"net/netip"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ObjectKind is the kind of kernel object a status belongs to.
type ObjectKind uint8

// The kinds of kernel objects the engine reconciles.
const (
	ObjVirtualServer ObjectKind = iota + 1
	ObjRealServer
	ObjAddress
	// ObjNetfilter is the whole netfilter program, written in one
	// transaction.
	ObjNetfilter
	// ObjKernelRead is a listing of the kernel (IPVS dumps, addresses):
	// not an object, but its failure stops a full reconcile.
	ObjKernelRead
)

// String names the kind for logs and metrics.
func (k ObjectKind) String() string {
	switch k {
	case ObjVirtualServer:
		return "virtual-server"
	case ObjRealServer:
		return "real-server"
	case ObjAddress:
		return "address"
	case ObjNetfilter:
		return "netfilter"
	case ObjKernelRead:
		return "kernel-read"
	}
	return "unknown"
}

// Object identifies one kernel object: a virtual server, one of its real
// servers, an address on the dummy interface, the netfilter program or the
// kernel read.
type Object struct {
	Kind ObjectKind
	VS   model.VSKey // the virtual server, or the real server's
	RS   model.RSKey
	Addr netip.Addr
}

// String names the object as logs and events print it.
func (o Object) String() string {
	switch o.Kind {
	case ObjVirtualServer:
		return "virtual server " + o.VS.String()
	case ObjRealServer:
		return "real server " + o.RS.String() + " of " + o.VS.String()
	case ObjAddress:
		return "address " + o.Addr.String()
	}
	return o.Kind.String()
}

// objectOf is the object an operation writes.
func objectOf(op model.Op) Object {
	switch op.Kind {
	case model.OpBindAddress, model.OpUnbindAddress:
		return Object{Kind: ObjAddress, Addr: op.Addr}
	case model.OpAddRealServer, model.OpUpdateRealServer, model.OpDeleteRealServer:
		return Object{Kind: ObjRealServer, VS: op.VS.VSKey, RS: op.RS.RSKey}
	}
	return Object{Kind: ObjVirtualServer, VS: op.VS.VSKey}
}

// Status is the state of an object that is not done. An object whose
// kernel state equals its desired state has no status: there is no "done"
// entry to forget, so an object that is neither wanted nor applied cannot
// keep one.
type Status struct {
	// Failed is set when the kernel refused the object in a way retrying
	// cannot fix (Reason says how), or transient errors went on for
	// maxAttempts: it is not retried until its operation changes (the
	// object changed) or, for exhausted retries, until RetryExhausted or
	// the next repair reaches it. Otherwise the object is pending: retried
	// at RetryAt.
	Failed bool
	// Reason is the failure's class (see classify): the label of the
	// object-errors metric.
	Reason string
	Err    error
	// Op is the operation that failed. A failed object is skipped while
	// the plan asks for the same operation again.
	Op       model.Op
	Attempts int
	Since    time.Time
	RetryAt  time.Time
}

// Permanent reports whether only a change of the object can fix it.
func (s *Status) Permanent() bool { return s.Failed && s.Reason != ReasonExhausted }

// Backoff bounds for retrying transient failures, and how many attempts
// make a transient failure a failed object.
const (
	retryInitial = 500 * time.Millisecond
	retryMax     = 30 * time.Second
	// maxAttempts transient failures in a row (about two and a half
	// minutes of backoff) fail the object: every retry ends. The periodic
	// repair tries it again once per cycle.
	maxAttempts = 10
)

// statusTable holds the status of every object that is not done: the
// engine's only retry bookkeeping. Virtual servers and their real servers
// are grouped by virtual server, so that one virtual server's diff settles
// all of its entries (see settle).
type statusTable struct {
	vs    map[model.VSKey]map[Object]*Status
	addrs map[netip.Addr]*Status
	// other holds the netfilter program and the kernel read.
	other map[ObjectKind]*Status
	// failed counts the failed objects by reason, for the metric; pending
	// counts the others, so that a sync with nothing pending looks at
	// nothing.
	failed  map[string]int
	pending int
}

func newStatusTable() *statusTable {
	return &statusTable{vs: map[model.VSKey]map[Object]*Status{}, addrs: map[netip.Addr]*Status{},
		other: map[ObjectKind]*Status{}, failed: map[string]int{}}
}

func (t *statusTable) get(o Object) *Status {
	switch o.Kind {
	case ObjVirtualServer, ObjRealServer:
		return t.vs[o.VS][o]
	case ObjAddress:
		return t.addrs[o.Addr]
	}
	return t.other[o.Kind]
}

func (t *statusTable) put(o Object, s *Status) {
	switch o.Kind {
	case ObjVirtualServer, ObjRealServer:
		m := t.vs[o.VS]
		if m == nil {
			m = map[Object]*Status{}
			t.vs[o.VS] = m
		}
		m[o] = s
	case ObjAddress:
		t.addrs[o.Addr] = s
	default:
		t.other[o.Kind] = s
	}
}

// done forgets an object's status: it reached its desired state, or is
// neither wanted nor applied any more.
func (t *statusTable) done(o Object) {
	s := t.get(o)
	if s == nil {
		return
	}
	t.count(s, -1)
	switch o.Kind {
	case ObjVirtualServer, ObjRealServer:
		m := t.vs[o.VS]
		delete(m, o)
		if len(m) == 0 {
			delete(t.vs, o.VS)
		}
	case ObjAddress:
		delete(t.addrs, o.Addr)
	default:
		delete(t.other, o.Kind)
	}
}

func (t *statusTable) count(s *Status, delta int) {
	if !s.Failed {
		t.pending += delta
		return
	}
	if n := t.failed[s.Reason] + delta; n > 0 {
		t.failed[s.Reason] = n
	} else {
		delete(t.failed, s.Reason)
	}
}

// fail records a failed write of o and returns its status. A permanent
// error fails the object at once; a transient one backs off exponentially
// and fails it after maxAttempts. newlyFailed is set when this attempt
// made the object failed.
func (t *statusTable) fail(o Object, op model.Op, err error, now time.Time) (s *Status, newlyFailed bool) {
	s = t.get(o)
	if s == nil {
		s = &Status{Since: now}
		t.put(o, s)
	} else {
		t.count(s, -1)
	}
	wasFailed := s.Failed
	reason, permanent := classify(err)
	s.Err, s.Op, s.Reason = err, op, reason
	s.Attempts++
	s.Failed = permanent || s.Attempts >= maxAttempts
	if s.Failed && !permanent {
		s.Reason = ReasonExhausted
	}
	s.RetryAt = now.Add(min(retryInitial<<min(s.Attempts-1, 10), retryMax))
	t.count(s, 1)
	return s, s.Failed && !wasFailed
}

// failOther records a failed netfilter transaction or kernel read: such a
// failure concerns every service, so it is never failed for good; it backs
// off like a transient error and returns the delay before the next attempt.
func (t *statusTable) failOther(kind ObjectKind, err error, now time.Time) time.Duration {
	s := t.other[kind]
	if s == nil {
		s = &Status{Since: now}
		t.other[kind] = s
		t.pending++
	}
	s.Err, s.Reason = err, ReasonTransient
	s.Attempts++
	s.RetryAt = now.Add(min(retryInitial<<min(s.Attempts-1, 10), retryMax))
	return s.RetryAt.Sub(now)
}

// skip reports whether op must not be attempted now: its object failed on
// the same operation and nothing changed since (permanent failures), or
// its retries are exhausted and this is not a repair.
func (t *statusTable) skip(op model.Op, repairing bool) bool {
	s := t.get(objectOf(op))
	if s == nil || !s.Failed || s.Op != op {
		return false
	}
	return s.Permanent() || !repairing
}

// settle filters one virtual server's freshly diffed operations: those of
// failed objects whose operation did not change are dropped (with every
// operation of the virtual server when the virtual server itself is
// failed: its status then stands for its real servers', as for operations
// not sent), and the entries of objects the diff has no operation for are
// done. It returns the operations to perform.
func (t *statusTable) settle(k model.VSKey, ops []model.Op, repairing bool) []model.Op {
	m := t.vs[k]
	if len(m) == 0 {
		return ops
	}
	planned := make(map[Object]bool, len(ops))
	vsFailed := false
	for _, op := range ops {
		o := objectOf(op)
		planned[o] = true
		if o.Kind == ObjVirtualServer && t.skip(op, repairing) {
			vsFailed = true
		}
	}
	for o := range m {
		// A real server held back by its failed virtual server would wait
		// for a retry that never comes (its operation is never sent).
		if !planned[o] || vsFailed && o.Kind == ObjRealServer {
			t.done(o)
		}
	}
	if vsFailed {
		return ops[:0]
	}
	return dropSkipped(t, ops, repairing)
}

func dropSkipped(t *statusTable, ops []model.Op, repairing bool) []model.Op {
	out := ops[:0]
	for _, op := range ops {
		if !t.skip(op, repairing) {
			out = append(out, op)
		}
	}
	return out
}

// settleAddresses does for address operations what settle does for a
// virtual server's; touched are the addresses the diff looked at.
func (t *statusTable) settleAddresses(touched []netip.Addr, ops []model.Op, repairing bool) []model.Op {
	if len(t.addrs) == 0 {
		return ops
	}
	planned := make(map[netip.Addr]bool, len(ops))
	for _, op := range ops {
		planned[op.Addr] = true
	}
	for _, a := range touched {
		if !planned[a] {
			t.done(Object{Kind: ObjAddress, Addr: a})
		}
	}
	return dropSkipped(t, ops, repairing)
}

// forgetUnlisted ends the statuses of the objects a full reconcile found
// neither desired nor ours in the kernel: a virtual server that is not
// (or no longer) ours after a restart or a node change, an address no
// longer desired or bound. Nothing will plan them again.
func (t *statusTable) forgetUnlisted(desired map[model.VSKey]*model.Service, observed map[model.VSKey]*model.Service,
	wantAddrs, boundAddrs map[netip.Addr]struct{}) {
	for k, m := range t.vs {
		if desired[k] != nil || observed[k] != nil {
			continue
		}
		for o := range m {
			t.done(o)
		}
	}
	for a := range t.addrs {
		_, want := wantAddrs[a]
		_, bound := boundAddrs[a]
		if !want && !bound {
			t.done(Object{Kind: ObjAddress, Addr: a})
		}
	}
}

// due returns the pending virtual servers and addresses whose retry time
// has passed, and whether the netfilter program is due.
func (t *statusTable) due(now time.Time) (keys []model.VSKey, addrs []netip.Addr, nf bool) {
	if t.pending == 0 {
		return nil, nil, false
	}
	for k, m := range t.vs {
		for _, s := range m {
			if !s.Failed && !now.Before(s.RetryAt) {
				keys = append(keys, k)
				break
			}
		}
	}
	for a, s := range t.addrs {
		if !s.Failed && !now.Before(s.RetryAt) {
			addrs = append(addrs, a)
		}
	}
	s := t.other[ObjNetfilter]
	return keys, addrs, s != nil && !now.Before(s.RetryAt)
}

// exhausted returns the virtual servers and addresses with an object whose
// transient retries ran out (failed, not permanently).
func (t *statusTable) exhausted() (keys []model.VSKey, addrs []netip.Addr) {
	for k, m := range t.vs {
		for _, s := range m {
			if s.Failed && !s.Permanent() {
				keys = append(keys, k)
				break
			}
		}
	}
	for a, s := range t.addrs {
		if s.Failed && !s.Permanent() {
			addrs = append(addrs, a)
		}
	}
	return keys, addrs
}

// next returns how long until the earliest pending retry is due (0 when
// nothing is pending; at least a millisecond otherwise).
func (t *statusTable) next(now time.Time) time.Duration {
	if t.pending == 0 {
		return 0
	}
	var earliest time.Time
	consider := func(s *Status) {
		if !s.Failed && (earliest.IsZero() || s.RetryAt.Before(earliest)) {
			earliest = s.RetryAt
		}
	}
	for _, m := range t.vs {
		for _, s := range m {
			consider(s)
		}
	}
	for _, s := range t.addrs {
		consider(s)
	}
	for _, s := range t.other {
		consider(s)
	}
	if earliest.IsZero() {
		return 0
	}
	return max(earliest.Sub(now), time.Millisecond)
}

// len returns how many objects have a status (pending or failed).
func (t *statusTable) len() int {
	n := len(t.addrs) + len(t.other)
	for _, m := range t.vs {
		n += len(m)
	}
	return n
}

// reset forgets every failed object so that all are attempted again (the
// node changed, or a full reconcile was asked for).
func (t *statusTable) resetFailed() {
	for k, m := range t.vs {
		for o, s := range m {
			if s.Failed {
				t.done(o)
			}
		}
		if len(m) == 0 {
			delete(t.vs, k)
		}
	}
	for a, s := range t.addrs {
		if s.Failed {
			t.done(Object{Kind: ObjAddress, Addr: a})
		}
	}
}
