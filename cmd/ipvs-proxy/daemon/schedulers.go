package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
)

// checkSchedulers finds the IPVS schedulers the kernel offers, refuses a
// default scheduler (--ipvs-scheduler) it cannot run, and gives Build the
// schedulers service annotations may name (proxier.Config.Schedulers). As
// kube-proxy's CanUseIPVSProxier does (pkg/proxy/ipvs/supported.go), it
// proves the default scheduler by adding a virtual server with it, which
// also makes the kernel load its module, unless its module is already
// loaded or built in (/proc/modules; a restart then writes nothing, and
// reads nothing from IPVS: checking whether a virtual server used it listed
// every virtual server, 11.5 s at 100,000 in the test VM before the
// informers even started); a dry run writes nothing and only reads the
// module files.
func (d *daemon) checkSchedulers(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	k := d.deps.Adapters.IPVS
	found := k.Schedulers()
	want := d.cfg.Proxier.Scheduler
	if want == "" {
		want = proxier.DefaultScheduler
	}
	logger.Info("Found the kernel's IPVS schedulers", "schedulers", found.Names, "complete", found.Complete)
	if found.Complete && !found.Has(want) {
		return fmt.Errorf("--ipvs-scheduler (ipvs.scheduler) %q: the kernel has no such IPVS scheduler "+
			"(no module %s is loaded, built in or installed for the running kernel); it offers %s",
			want, ipvs.SchedulerModule(want), strings.Join(found.Names, ", "))
	}
	switch {
	case !d.cfg.DryRun && !found.IsLoaded(want):
		if err := ipvs.ProbeScheduler(k, want); err != nil {
			return fmt.Errorf("--ipvs-scheduler (ipvs.scheduler) %q: %w", want, err)
		}
	case !found.Has(want):
		logger.Info("Could not check the IPVS scheduler in a dry run: its module is not loaded and the module files are not readable",
			"scheduler", want)
	}
	d.cfg.Proxier.Schedulers = annotationSchedulers(found, want)
	return nil
}

// annotationSchedulers are the schedulers service annotations may name:
// those found and the default one. When the module files could not be read
// (the DaemonSet mounts no /lib/modules), every scheduler of mainline Linux
// is added, which the kernel may load on first use: one it cannot load is
// refused by the kernel then, and the service's virtual servers fail with
// an event saying so.
func annotationSchedulers(found ipvs.Schedulers, want string) []string {
	names := append(slices.Clone(found.Names), want)
	if !found.Complete {
		names = append(names, proxier.Schedulers...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
