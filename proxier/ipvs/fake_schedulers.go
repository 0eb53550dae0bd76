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
// kernel runs, complete, none of them loaded yet.
func (f *Fake) Schedulers() Schedulers {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.foundScheds != nil {
		return Schedulers{Names: slices.Clone(f.foundScheds.Names), Complete: f.foundScheds.Complete, Loaded: slices.Clone(f.foundScheds.Loaded)}
	}
	return Schedulers{Names: slices.Clone(FakeSchedulers), Complete: true}
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
	return nil
}
