package ipvs

import (
	"fmt"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// FakeSchedulers are the schedulers the Fake runs unless told otherwise:
// those of mainline Linux.
var FakeSchedulers = []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}

// SetSchedulers sets the schedulers the fake kernel runs, kernel (a virtual
// server with another fails with ErrSchedulerMissing, as on a kernel
// without its module), and what Schedulers reports, found: on a real node
// found can miss schedulers the kernel would load (a container without
// /lib/modules) or list some it cannot (a module file the kernel refuses).
func (f *Fake) SetSchedulers(kernel []string, found Schedulers) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kernelScheds = slices.Clone(kernel)
	found.Names = slices.Sorted(slices.Values(found.Names))
	found.Loaded = slices.Sorted(slices.Values(found.Loaded))
	f.foundScheds = &found
}

// Schedulers implements Interface: by default every scheduler the fake
// kernel runs, complete. Loaded are those SetSchedulers gave and, as in a
// kernel, every scheduler a virtual server has used (its module was
// loaded on first use and stays).
func (f *Fake) Schedulers() Schedulers {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := Schedulers{Names: slices.Clone(FakeSchedulers), Complete: true}
	if f.foundScheds != nil {
		out = Schedulers{Names: slices.Clone(f.foundScheds.Names), Complete: f.foundScheds.Complete, Loaded: slices.Clone(f.foundScheds.Loaded)}
	}
	for s := range f.loadedScheds {
		if !slices.Contains(out.Loaded, s) {
			out.Loaded = append(out.Loaded, s)
		}
	}
	slices.Sort(out.Loaded)
	return out
}

// loadScheduler records that the kernel has loaded a scheduler's module.
// The caller holds f.mu.
func (f *Fake) loadScheduler(name string) {
	if f.loadedScheds == nil {
		f.loadedScheds = map[string]bool{}
	}
	f.loadedScheds[name] = true
}

// checkVirtualServer validates a virtual server as the Kernel does and
// checks that the fake kernel runs its scheduler.
func (f *Fake) checkVirtualServer(c Call, vs model.VirtualServer) error {
	if err := validateVirtualServer(vs); err != nil {
		return err
	}
	runs := f.kernelScheds
	if runs == nil {
		runs = FakeSchedulers
	}
	if !slices.Contains(runs, vs.Scheduler) {
		return callError(c, vs.VSKey.String(), fmt.Errorf("%w: %s", ErrSchedulerMissing, SchedulerModule(vs.Scheduler)), nil)
	}
	f.loadScheduler(vs.Scheduler)
	return nil
}
