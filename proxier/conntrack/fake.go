package conntrack

import (
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Call names an Interface method, for the Fake's counters and faults.
type Call string

// The calls of Interface.
const (
	CallList  Call = "List"
	CallClear Call = "Clear"
)

// Fake is an in-memory conntrack table: tests seed entries, the code under
// test clears them with filters, and the test checks which entries remain.
// Its Injector counts calls and fails them on demand (no call has a
// subject): List is a read, Clear with at least one valid filter a write
// (Clear without filters makes no kernel call, and invalid filters are
// refused before any). A failed Clear deletes nothing. It is safe for
// concurrent use.
type Fake struct {
	fault.Injector[Call]
	mu      sync.Mutex
	entries []Entry
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding the given entries.
func NewFake(entries ...Entry) *Fake {
	f := &Fake{}
	f.Seed(entries...)
	return f
}

// Seed adds entries, as traffic would; it is not counted.
func (f *Fake) Seed(entries ...Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, entries...)
}

// List implements Interface.
func (f *Fake) List(proto model.Protocol) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fault.Hit(&f.Injector, CallList, fault.Read); err != nil {
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
	if err := fault.Hit(&f.Injector, CallClear, fault.Write); err != nil {
		return 0, err
	}
	before := len(f.entries)
	f.entries = slices.DeleteFunc(f.entries, func(e Entry) bool { return matchAny(filters, e) })
	return before - len(f.entries), nil
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
