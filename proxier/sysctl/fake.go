package sysctl

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// Call names an Interface method, for the Fake's counters and faults.
type Call string

// The calls of Interface.
const (
	CallGet Call = "Get"
	CallSet Call = "Set"
)

// Fake is an in-memory Interface. Parameters that were never seeded do not
// exist, as on a kernel without the module. Its Injector counts calls and
// fails them on demand: Get and Set concern their parameter
// (fault.Rule.Subject "net.ipv4.ip_forward"); Set is a write. A failed Set
// changes nothing. It is safe for concurrent use.
type Fake struct {
	fault.Injector[Call]
	mu     sync.Mutex
	values map[string]string
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding the given parameters.
func NewFake(values map[string]string) *Fake {
	f := &Fake{values: map[string]string{}}
	maps.Copy(f.values, values)
	return f
}

// Seed creates or overwrites a parameter without counting a write, as the
// kernel or an administrator would.
func (f *Fake) Seed(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[name] = value
}

// Remove deletes a parameter, as unloading its module would.
func (f *Fake) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.values, name)
}

// Get implements Interface.
func (f *Fake) Get(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fault.Hit(&f.Injector, CallGet, fault.Read, name); err != nil {
		return "", err
	}
	v, ok := f.values[name]
	if !ok {
		return "", notExist("reading", name)
	}
	return strings.TrimSpace(v), nil
}

// Set implements Interface.
func (f *Fake) Set(name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fault.Hit(&f.Injector, CallSet, fault.Write, name); err != nil {
		return err
	}
	if _, ok := f.values[name]; !ok {
		return notExist("writing", name)
	}
	f.values[name] = value
	return nil
}

// Dump returns every parameter as "name = value" lines, sorted by name.
func (f *Fake) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(f.values)) {
		fmt.Fprintf(&b, "%s = %s\n", k, f.values[k])
	}
	return b.String()
}
