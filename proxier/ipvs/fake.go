package ipvs

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var _ Interface = (*Fake)(nil)

// DefaultTimeouts are the kernel's IPVS timeouts before anyone sets them,
// which the Fake starts with.
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Fake is Interface in memory, for tests of the code above the adapter. It
// follows the Kernel's error behaviour and holds settable connection
// counters for drain tests. Its Injector counts calls (to prove that a
// no-op sync writes nothing; writes are the calls for which Call.IsWrite
// holds, ApplyBatch is neither a read nor a write) and fails them on
// demand: a call on a virtual server concerns its
// key (fault.Rule.Subject "tcp 198.18.0.10:80"), a call on a real server
// also the real server ("198.18.10.1:8080"). A failed call changes
// nothing. It is safe for concurrent use.
type Fake struct {
	fault.Injector[Call]
	mu       sync.Mutex
	services map[model.VSKey]*fakeService
	timeouts Timeouts
	// kernelScheds are the schedulers the fake kernel runs, foundScheds
	// what Schedulers reports (see SetSchedulers); nil means the default.
	kernelScheds []string
	foundScheds  *Schedulers
	// loadedScheds are the schedulers a virtual server has used.
	loadedScheds map[string]bool
}

type fakeService struct {
	vs    model.VirtualServer
	reals map[model.RSKey]*fakeReal
}

// service returns a copy of s, its real servers sorted.
func (s *fakeService) service() *model.Service {
	svc := &model.Service{VirtualServer: s.vs, Reals: make([]model.RealServer, 0, len(s.reals))}
	for _, r := range s.reals {
		svc.Reals = append(svc.Reals, r.rs)
	}
	svc.SortReals()
	return svc
}

type fakeReal struct {
	rs    model.RealServer
	stats model.RealServerStats
}

// NewFake returns an empty Fake with the kernel's default timeouts.
func NewFake() *Fake {
	return &Fake{services: map[model.VSKey]*fakeService{}, timeouts: DefaultTimeouts}
}

// Seed puts services into the table as if someone else had written them
// (a previous run, kube-proxy): it counts no call and bypasses faults.
// Existing services with the same keys are replaced.
func (f *Fake) Seed(svcs ...*model.Service) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range svcs {
		fs := &fakeService{vs: s.VirtualServer, reals: map[model.RSKey]*fakeReal{}}
		for _, r := range s.Reals {
			fs.reals[r.RSKey] = &fakeReal{rs: r}
		}
		f.services[s.VSKey] = fs
		f.loadScheduler(s.Scheduler)
	}
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

// begin counts a call and returns the injected error for it, if any.
func (f *Fake) begin(c Call, vs model.VSKey, rs model.RSKey) error {
	kind := fault.Read
	switch {
	case c == CallApplyBatch:
		kind = fault.Batch
	case c.IsWrite():
		kind = fault.Write
	}
	switch {
	case rs != model.RSKey{}:
		return fault.Hit(&f.Injector, c, kind, vs, rs)
	case vs != model.VSKey{}:
		return fault.Hit(&f.Injector, c, kind, vs)
	}
	return fault.Hit(&f.Injector, c, kind)
}

// sorted returns deep copies of the services in canonical order. The caller
// holds f.mu.
func (f *Fake) sorted() []*model.Service {
	out := make([]*model.Service, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, s.service())
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
