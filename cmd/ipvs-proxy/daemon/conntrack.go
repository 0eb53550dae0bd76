package daemon

import (
	"context"
	"errors"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// ensureConntrack applies kube-proxy's conntrack settings once, at start,
// as kube-proxy does (cmd/kube-proxy/app/server_linux.go platformSetup):
// nf_conntrack_max and the hash size raised to what cfg.Conntrack asks for
// on cfg.CPUs CPUs, the timeouts written (sysctl.ConntrackSettings decides).
// Unlike the required sysctls, they are not repaired on full syncs: an
// administrator may raise or change them afterwards, and kube-proxy leaves
// that alone too.
//
// kube-proxy v1.37 exits when a write fails ("could not set conntrack
// parameters from kube-proxy configuration"), so a read-only /proc/sys or
// /sys crash-loops it. The daemon logs the same failure, saying whether
// the file system was read-only, and goes on with the kernel's values: a
// smaller conntrack table must not take the data plane down. In a dry run
// it logs what it would write.
func (d *daemon) ensureConntrack(ctx context.Context) {
	s := d.deps.Adapters.Sysctl
	if s == nil || d.cfg.Conntrack == (sysctl.Conntrack{}) {
		return
	}
	logger := klog.FromContext(ctx)
	cur, readErr := sysctl.ReadConntrack(s)
	settings := sysctl.ConntrackSettings(d.cfg.Conntrack, d.cfg.CPUs, cur)
	if d.cfg.DryRun {
		drifted, err := sysctl.Diff(s, settings)
		for _, dr := range drifted {
			logger.Info("Would set conntrack parameter (dry run)", "name", dr.Name, "found", dr.Got, "want", dr.Want)
		}
		if err := errors.Join(readErr, err); err != nil {
			logger.Error(err, "Could not read conntrack parameters (dry run)")
		}
		return
	}
	errs := []error{readErr}
	for _, setting := range settings {
		drifted, err := sysctl.Ensure(s, []sysctl.Setting{setting})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, dr := range drifted {
			logger.Info("Set conntrack parameter", "name", dr.Name, "found", dr.Got, "value", dr.Want, "cpus", d.cfg.CPUs)
		}
	}
	if err := errors.Join(errs...); err != nil {
		logger.Error(err, "Could not set conntrack parameters from the configuration; the kernel keeps its values for those",
			"readOnly", sysctl.IsReadOnly(err))
	}
}
