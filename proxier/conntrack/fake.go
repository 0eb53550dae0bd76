package conntrack

import (
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Counts are the calls a fake has served since it was created or last
// reset, so tests can prove that a no-op sync touches nothing.
type Counts struct {
	// Reads counts List calls; Writes counts Clear calls with at least one
	// filter (Clear without filters makes no kernel call).
	Reads, Writes int
}

// Fake is an in-memory conntrack table: tests seed entries, the code under
// test clears them with filters, and the test checks which entries remain.
// It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	entries []Entry
	errs    map[string]error
	counts  Counts
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding the given entries.
func NewFake(entries ...Entry) *Fake {
	f := &Fake{errs: map[string]error{}}
	f.Seed(entries...)
	return f
}

// Seed adds entries, as traffic would; it is not counted.
func (f *Fake) Seed(entries ...Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, entries...)
}

// InjectError makes every call of method ("List" or "Clear") fail with err
// until it is called again with a nil err. A failing Clear deletes
// nothing. Failed calls are still counted.
func (f *Fake) InjectError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, method)
		return
	}
	f.errs[method] = err
}

// List implements Interface.
func (f *Fake) List(proto model.Protocol) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts.Reads++
	if err := f.errs["List"]; err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range f.entries {
		if proto == 0 || e.Proto == proto {
			out = append(out, e)
		}
	}
	return out, nil
}

// Clear implements Interface with the same validation as the real one.
func (f *Fake) Clear(filters ...Filter) (int, error) {
	if len(filters) == 0 {
		return 0, nil
	}
	for _, flt := range filters {
		if err := flt.Validate(); err != nil {
			return 0, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts.Writes++
	if err := f.errs["Clear"]; err != nil {
		return 0, err
	}
	before := len(f.entries)
	f.entries = slices.DeleteFunc(f.entries, func(e Entry) bool { return matchAny(filters, e) })
	return before - len(f.entries), nil
}

// Counts returns the calls served so far.
func (f *Fake) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// ResetCounts sets the call counters to zero.
func (f *Fake) ResetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = Counts{}
}

// Dump returns the table, one entry per line in Entry.String form, sorted
// by protocol, original destination, original source and reply.
func (f *Fake) Dump() string {
	f.mu.Lock()
	es := slices.Clone(f.entries)
	f.mu.Unlock()
	slices.SortFunc(es, compareEntry)
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}
