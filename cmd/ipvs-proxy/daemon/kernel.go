package daemon

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// prepareKernel proves IPVS and nftables work, checks the IPVS schedulers
// (checkSchedulers), applies kube-proxy's conntrack settings
// (ensureConntrack), creates the dummy interface, applies the required
// sysctls and the IPVS timeouts. It flushes nothing: existing state is
// adopted by the first full reconcile. In a dry run it only probes.
//
// It logs how long each step took: at a restart over 100,000 services the
// scheduler check once spent 11.5 s listing every virtual server, before
// the informers started, and no log said where the time went.
func (d *daemon) prepareKernel(ctx context.Context) error {
	a := d.deps.Adapters
	t := stepTimer{last: time.Now()}
	if err := a.IPVS.Probe(); err != nil {
		return fmt.Errorf("IPVS is not usable: %w", err)
	}
	if err := d.checkSchedulers(ctx); err != nil {
		return err
	}
	t.done("ipvs")
	if err := a.Netfilter.Probe(); err != nil {
		return fmt.Errorf("nftables is not usable: %w", err)
	}
	t.done("nftables")
	d.ensureConntrack(ctx)
	t.done("conntrack")
	if !d.cfg.DryRun {
		if err := a.Addresses.EnsureInterface(); err != nil {
			return fmt.Errorf("creating the dummy interface: %w", err)
		}
		t.done("interface")
		d.ensureSysctls(ctx)
		t.done("sysctls")
		if d.cfg.Timeouts != (ipvs.Timeouts{}) {
			if err := a.IPVS.SetTimeouts(d.cfg.Timeouts); err != nil {
				return fmt.Errorf("setting IPVS timeouts: %w", err)
			}
		}
	}
	klog.FromContext(ctx).Info("Prepared the kernel", t.kv...)
	return nil
}

// stepTimer records how long each of a sequence of steps took, as
// key/value pairs for one log line.
type stepTimer struct {
	last time.Time
	kv   []any
}

func (s *stepTimer) done(step string) {
	now := time.Now()
	s.kv = append(s.kv, step, now.Sub(s.last))
	s.last = now
}

// ensureSysctls applies the required sysctls and counts drift; it runs at
// start and on every full reconcile. Failures are logged, not fatal: a
// read-only /proc/sys must not take the data plane down.
func (d *daemon) ensureSysctls(ctx context.Context) {
	s := d.deps.Adapters.Sysctl
	if s == nil || d.cfg.DryRun {
		return
	}
	logger := klog.FromContext(ctx)
	kernel, err := sysctl.RunningKernel(s)
	if err != nil {
		logger.V(2).Info("Could not read the kernel version; version-dependent sysctls left alone", "err", err)
	}
	bridge, _ := sysctl.BridgePresent(s)
	opts := sysctl.Options{Kernel: kernel, IPv6: d.hasIPv6(), StrictARP: d.cfg.StrictARP, Bridge: bridge}
	drifted, err := sysctl.Ensure(s, sysctl.Required(opts))
	for _, dr := range drifted {
		d.metrics.SysctlDrift(dr.Name)
		logger.Info("Reset a drifted sysctl", "name", dr.Name, "found", dr.Got, "want", dr.Want)
	}
	if err != nil {
		logger.Error(err, "Failed to apply required sysctls")
	}
}

// hasIPv6 reports whether the node proxies IPv6: the configuration says so
// (cfg.IPv6), or the Node, once read, has an IPv6 address. Without either,
// IPv6 forwarding is left for the first full reconcile after the Node.
func (d *daemon) hasIPv6() bool {
	if d.cfg.IPv6 {
		return true
	}
	for _, ip := range d.node.IPs {
		if ip.Is6() {
			return true
		}
	}
	return false
}

// Init prepares the kernel as the daemon does at start (IPVS and nftables
// probes, conntrack settings, dummy interface, sysctls, IPVS timeouts) and returns: --init-only,
// for an init container that runs with more privileges than the daemon.
func Init(ctx context.Context, cfg Config, a Adapters) error {
	d := &daemon{cfg: cfg, deps: Deps{Adapters: a}, metrics: metrics.New()}
	return d.prepareKernel(ctx)
}
