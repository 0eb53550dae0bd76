package ipvs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var _ Interface = (*Fake)(nil)

// DefaultTimeouts are the kernel's IPVS timeouts before anyone sets them,
// which the Fake starts with.
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Hook is called by the Fake before each call with the call and the keys it
// concerns (zero keys when the call has none). A non-nil result fails the
// call with that error, leaving the state unchanged.
type Hook func(c Call, vs model.VSKey, rs model.RSKey) error

// Fake is Interface in memory, for tests of the code above the adapter. It
// follows the Kernel's error behaviour, counts calls (to prove that a no-op
// sync writes nothing), fails calls on demand and holds settable connection
// counters for drain tests. It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	services map[model.VSKey]*fakeService
	timeouts Timeouts
	calls    map[Call]int
	faults   []fault
	hook     Hook
}

type fakeService struct {
	vs    model.VirtualServer
	reals map[model.RSKey]*fakeReal
}

type fakeReal struct {
	rs    model.RealServer
	stats model.RealServerStats
}

type fault struct {
	call Call
	vs   model.VSKey
	err  error
}

// NewFake returns an empty Fake with the kernel's default timeouts.
func NewFake() *Fake {
	return &Fake{services: map[model.VSKey]*fakeService{}, timeouts: DefaultTimeouts, calls: map[Call]int{}}
}

// Seed puts services into the table as if someone else had written them
// (a previous run, kube-proxy): it counts no call and bypasses faults and
// the hook. Existing services with the same keys are replaced.
func (f *Fake) Seed(svcs ...*model.Service) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range svcs {
		fs := &fakeService{vs: s.VirtualServer, reals: map[model.RSKey]*fakeReal{}}
		for _, r := range s.Reals {
			fs.reals[r.RSKey] = &fakeReal{rs: r}
		}
		f.services[s.VSKey] = fs
	}
}

// InjectError makes every later call c concerning virtual server vs (any
// virtual server, and calls without one, when vs is the zero key) fail with
// err, leaving the state unchanged, until ClearErrors.
func (f *Fake) InjectError(c Call, vs model.VSKey, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{call: c, vs: vs, err: err})
}

// ClearErrors removes the injected errors and the hook.
func (f *Fake) ClearErrors() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults, f.hook = nil, nil
}

// SetHook installs a hook called before every call (nil removes it).
func (f *Fake) SetHook(h Hook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// SetStats sets the connection counters of a real server. It returns an
// error wrapping ErrNotFound if the real server does not exist.
func (f *Fake) SetStats(vs model.VSKey, rs model.RSKey, st model.RealServerStats) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.real(CallRealServerStats, vs, rs)
	if err != nil {
		return err
	}
	r.stats = st
	return nil
}

// Calls returns how many times each call was made (failed calls included)
// since the Fake was made or ResetCalls.
func (f *Fake) Calls() map[Call]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// Writes returns how many write calls were made (failed ones included).
func (f *Fake) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c, v := range f.calls {
		if c.IsWrite() {
			n += v
		}
	}
	return n
}

// ResetCalls zeroes the call counters.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.calls)
}

// Services returns the table as ListServices does, without counting a call
// or applying faults: for assertions in tests.
func (f *Fake) Services() []*model.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sorted()
}

// Dump returns the table in the canonical `ipvsadm -Sn` syntax: each virtual
// server followed by its real servers, all sorted, one per line.
func (f *Fake) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, s := range f.sorted() {
		b.WriteString(model.FormatVirtualServer("-A", s.VirtualServer))
		b.WriteByte('\n')
		for _, r := range s.Reals {
			b.WriteString(model.FormatRealServer("-a", s.VSKey, r))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// begin counts a call and returns the injected error for it, if any. The
// caller holds f.mu.
func (f *Fake) begin(c Call, vs model.VSKey, rs model.RSKey) error {
	f.calls[c]++
	for _, ft := range f.faults {
		if ft.call == c && (ft.vs == model.VSKey{} || ft.vs == vs) {
			return ft.err
		}
	}
	if f.hook != nil {
		return f.hook(c, vs, rs)
	}
	return nil
}

// sorted returns deep copies of the services in canonical order. The caller
// holds f.mu.
func (f *Fake) sorted() []*model.Service {
	out := make([]*model.Service, 0, len(f.services))
	for _, s := range f.services {
		svc := &model.Service{VirtualServer: s.vs, Reals: make([]model.RealServer, 0, len(s.reals))}
		for _, r := range s.reals {
			svc.Reals = append(svc.Reals, r.rs)
		}
		svc.SortReals()
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *model.Service) int { return compareKeys(a.VSKey, b.VSKey) })
	return out
}

// real returns an existing real server or an error wrapping ErrNotFound.
// The caller holds f.mu.
func (f *Fake) real(c Call, vs model.VSKey, rs model.RSKey) (*fakeReal, error) {
	s, ok := f.services[vs]
	if !ok {
		return nil, callError(c, rsSubject(vs, rs), fmt.Errorf("virtual server %w", ErrNotFound), nil)
	}
	r, ok := s.reals[rs]
	if !ok {
		return nil, callError(c, rsSubject(vs, rs), ErrNotFound, nil)
	}
	return r, nil
}
