package sysctl

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Counts are the calls a fake has served since it was created or last
// reset, so tests can prove that a no-op sync writes nothing.
type Counts struct {
	Reads, Writes int
}

// Fake is an in-memory Interface. Parameters that were never seeded do not
// exist, as on a kernel without the module. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	values map[string]string
	errs   map[[2]string]error
	counts Counts
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding the given parameters.
func NewFake(values map[string]string) *Fake {
	f := &Fake{values: map[string]string{}, errs: map[[2]string]error{}}
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

// InjectError makes every call of method ("Get" or "Set") on the parameter
// name fail with err; name "" matches every parameter. A nil err removes
// the injection. Failed calls are still counted.
func (f *Fake) InjectError(method, name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{method, name}
	if err == nil {
		delete(f.errs, k)
		return
	}
	f.errs[k] = err
}

// injected returns the error injected for the call, if any. f.mu is held.
func (f *Fake) injected(method, name string) error {
	if err := f.errs[[2]string{method, name}]; err != nil {
		return err
	}
	return f.errs[[2]string{method, ""}]
}

// Get implements Interface.
func (f *Fake) Get(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts.Reads++
	if err := f.injected("Get", name); err != nil {
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
	f.counts.Writes++
	if err := f.injected("Set", name); err != nil {
		return err
	}
	if _, ok := f.values[name]; !ok {
		return notExist("writing", name)
	}
	f.values[name] = value
	return nil
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
