// Package daemon runs ipvs-proxy on a node: it wires the informers, the
// change tracker, the sync runner, the reconcile engine, the kernel
// adapters, the health servers and the metrics together.
//
//	informers ─► tracker ─► runner ─► sync ─► reconcile.Engine ─► adapters ─► kernel
//	                │                   │
//	                └► health (queued)  └► health (updated), metrics, events
//
// Nothing is applied before Services, EndpointSlices and the Node have been
// listed. On start the engine adopts the kernel as it is; on SIGTERM, or
// when the --config file changes (ConfigWatch), the health servers answer
// 503 for the lame-duck period and the daemon exits leaving every rule in
// place, so a restart never disturbs traffic.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/runner"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// Config is what the daemon needs, already validated (cmd/ipvs-proxy maps
// its flags and configuration file onto it).
type Config struct {
	// NodeName is this node's name (--hostname-override or the hostname).
	NodeName string
	// Proxier configures Build (scheduler, masquerading, proxy name, gates).
	Proxier proxier.Config
	// Node turns the Node object into what Build needs (its addresses,
	// --node-ip, --bind-address); the daemon then sets NodePortIPs from the
	// node's interfaces filtered by NodePortAddresses.
	Node              func(*v1.Node) (proxier.Node, error)
	NodePortAddresses []string
	// Owner says which kernel objects are ours (--ipvs-exclude-cidrs,
	// --nodeport-range).
	Owner reconcile.Owner
	// SyncPeriod, MinSyncPeriod: --ipvs-sync-period, --ipvs-min-sync-period.
	// SyncPeriod paces the cheap checks (check.go) and sets the health
	// timeout, as in kube-proxy.
	SyncPeriod, MinSyncPeriod time.Duration
	// RepairPeriod is the period of the full, paced read-back of the kernel
	// (options.Config.RepairPeriod); 0 means SyncPeriod.
	RepairPeriod time.Duration
	// DrainTimeout, DrainPollInterval: --drain-timeout, --drain-poll-interval.
	DrainTimeout, DrainPollInterval time.Duration
	// NoNotReadyDrain deletes vanished endpoints at once (gate NotReadyDrain off).
	NoNotReadyDrain bool
	// LameDuck is how long health answers 503 after SIGTERM before exit.
	LameDuck time.Duration
	// HealthzBindAddress and MetricsBindAddress are host:port ("" disables).
	HealthzBindAddress, MetricsBindAddress string
	// Profiling serves /debug/pprof/ on the metrics server (--profiling).
	Profiling bool
	// Configz are the configurations the metrics server's /configz serves,
	// by name, as kube-proxy's configz does ("kubeproxy.config.k8s.io": the
	// effective KubeProxyConfiguration).
	Configz map[string]any
	// StrictARP sets arp_ignore=1 and arp_announce=2 (--ipvs-strict-arp).
	StrictARP bool
	// IPv6 says the configuration alone shows that the node proxies IPv6
	// (an IPv6 --cluster-cidr or --node-ip): IPv6 forwarding is then set at
	// start, --init-only included, rather than once the Node has been read.
	IPv6 bool
	// Timeouts are the IPVS connection timeouts (0 keeps the system value).
	Timeouts ipvs.Timeouts
	// Conntrack are kube-proxy's conntrack settings (--conntrack-*), set
	// at start; the zero value changes nothing.
	Conntrack sysctl.Conntrack
	// CPUs is the node's CPU count that nf_conntrack_max is sized by
	// (sysctl.OnlineCPUs).
	CPUs int
	// DryRun logs every plan and never writes to the kernel.
	DryRun bool
	// ConfigWatch stops the daemon, as SIGTERM does, when the --config file
	// changes.
	ConfigWatch ConfigWatch
}

// Adapters are the kernel adapters; tests pass the fakes.
type Adapters struct {
	IPVS ipvs.Interface
	// IPVSLister, when set, is a second IPVS adapter with its own sockets
	// on which the periodic repair reads the kernel off the sync goroutine
	// (reconcile.Config.IPVSLister); nil reads on IPVS.
	IPVSLister reconcile.IPVSLister
	Addresses  addr.Interface
	// AddressLister, when set, is a second address adapter with its own
	// sockets on which the periodic repair lists the addresses off the
	// sync goroutine (reconcile.Config.AddressLister); nil lists on
	// Addresses.
	AddressLister reconcile.AddressLister
	Netfilter     netfilter.Interface
	Sysctl        sysctl.Interface
	Conntrack     conntrack.Interface
	// KubeProxy removes kube-proxy's iptables chains and ipsets; only
	// Cleanup uses it, and nil skips that.
	KubeProxy kubeproxy.Interface
}

// Deps are the daemon's collaborators. Client and Adapters are required.
type Deps struct {
	Client   kubeapi.Interface
	Adapters Adapters
	Clock    clock.WithTicker
	Metrics  *metrics.Metrics
}

// daemon is one running proxy.
type daemon struct {
	cfg     Config
	deps    Deps
	clock   clock.WithTicker
	metrics *metrics.Metrics
	tracker *tracker.Tracker
	runner  *runner.Runner
	engine  *reconcile.Engine
	health  *health
	events  *problemEvents
	node    proxier.Node
	nodeOK  bool
	// addrsChecked is when the node's interface addresses were last
	// compared with its node-port addresses; hostAddrsChanged: the kernel
	// reported a change since (addrwatch.go); checked: when the cheap
	// checks last ran (check.go).
	addrsChecked, checked time.Time
	hostAddrsChanged      bool
	// ipvsRepairs spaces the Fulls of a kernel that keeps differing
	// (check.go).
	ipvsRepairs fullBackoff
	// addrs collects the kernel's address notifications.
	addrs *addrWatch
}

// Run runs the daemon until ctx is done, then goes lame duck for
// cfg.LameDuck and returns, leaving the kernel as it is.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if deps.Client == nil || deps.Adapters.IPVS == nil || deps.Adapters.Addresses == nil ||
		deps.Adapters.Netfilter == nil || deps.Adapters.Conntrack == nil {
		return errors.New("daemon needs a Kubernetes client and every kernel adapter")
	}
	d := &daemon{cfg: cfg, deps: deps, clock: deps.Clock, metrics: deps.Metrics,
		ipvsRepairs: fullBackoff{first: cfg.SyncPeriod, max: cmp.Or(cfg.RepairPeriod, cfg.SyncPeriod)}}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	if d.metrics == nil {
		d.metrics = metrics.New()
	}
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "node", cfg.NodeName)
	ctx = klog.NewContext(ctx, logger)
	if err := d.prepareKernel(ctx); err != nil {
		return err
	}
	engine, err := reconcile.New(reconcile.Config{Build: d.cfg.Proxier, Owner: cfg.Owner, DrainTimeout: cfg.DrainTimeout,
		NoNotReadyDrain: cfg.NoNotReadyDrain, IPVS: deps.Adapters.IPVS, IPVSLister: deps.Adapters.IPVSLister, Addresses: deps.Adapters.Addresses,
		AddressLister: deps.Adapters.AddressLister,
		// A finished netfilter read-back is collected at once, not a
		// sync period later; d.runner exists before any check runs.
		NetfilterChecked: func() { d.runner.TriggerCheck() },
		Netfilter:        deps.Adapters.Netfilter, Conntrack: deps.Adapters.Conntrack, Clock: d.clock,
		Metrics: d.metrics, DryRun: cfg.DryRun}, nil, proxier.Node{Name: cfg.NodeName})
	if err != nil {
		return err
	}
	d.engine = engine
	d.tracker = tracker.New(d.queued)
	d.engine.SetSource(d.tracker.Store())
	d.runner = runner.New(runner.Config{MinInterval: cfg.MinSyncPeriod, FullInterval: cmp.Or(cfg.RepairPeriod, cfg.SyncPeriod),
		PollInterval: cfg.DrainPollInterval, Poll: d.poll, Ready: d.tracker.Synced, Clock: d.clock,
		RepairSteps: d.engine.RepairSteps, Catchup: d.engine.CatchingUp}, d.sync)
	d.addrs = newAddrWatch(logger, d.runner.Trigger)
	if d.health, err = newHealth(ctx, cfg, d.clock, d.metrics); err != nil {
		return err
	}
	d.events = newProblemEvents(ctx, deps.Client, d.metrics)
	defer d.events.stop()
	return d.run(ctx)
}

// run starts the servers, informers and the runner, and waits for ctx.
func (d *daemon) run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.health.start(runCtx)
	if err := serveMetrics(runCtx, &d.cfg, d.metrics); err != nil {
		return err
	}
	// Subscribed before the first sync can list the addresses.
	go d.watchAddresses(runCtx)
	if err := d.startInformers(runCtx); err != nil {
		return err
	}
	go d.runner.Run(runCtx)
	d.events.started(d.cfg.NodeName)
	logger.Info("Started", "dryRun", d.cfg.DryRun, "syncPeriod", d.cfg.SyncPeriod, "repairPeriod", cmp.Or(d.cfg.RepairPeriod, d.cfg.SyncPeriod), "minSyncPeriod", d.cfg.MinSyncPeriod,
		"drainTimeout", d.cfg.DrainTimeout)
	reason := "signal"
	select {
	case <-ctx.Done():
	case <-d.watchConfig(runCtx):
		reason = "configChanged"
	}
	logger.Info("Stopping: lame duck, health answers 503", "duration", d.cfg.LameDuck, "reason", reason)
	d.health.lameDuck()
	select {
	case <-d.clock.After(d.cfg.LameDuck):
	case <-runCtx.Done():
	}
	d.health.stop()
	logger.Info("Stopped; kernel rules left in place")
	return nil
}

// queued is the tracker's notify hook: something became pending.
func (d *daemon) queued() {
	d.metrics.Queued(d.clock.Now())
	if d.health != nil {
		d.health.queued()
	}
	if d.runner != nil {
		d.runner.Trigger()
	}
}

// refreshNode recomputes the node from the Node object and the interfaces.
func (d *daemon) refreshNode(ctx context.Context) error {
	obj := d.tracker.Store().Node()
	if obj == nil {
		d.health.syncNode(nil) // deleted or never registered: not eligible
		return fmt.Errorf("node %q not found", d.cfg.NodeName)
	}
	n, err := d.cfg.Node(obj)
	if err != nil {
		return err
	}
	n.Name = d.cfg.NodeName
	// The interfaces replace the Node's addresses that cfg.Node put in
	// their place (the plan's stand-in).
	if n.NodePortIPs, n.HostIPs, err = d.hostAddresses(n); err != nil {
		return err
	}
	d.node, d.nodeOK = n, true
	d.engine.SetNode(n)
	d.metrics.SetFamilies(familyNames(n))
	d.health.syncNode(obj)
	klog.FromContext(ctx).V(2).Info("Updated node", "ips", n.IPs, "families", n.Families, "nodePortIPs", n.NodePortIPs, "hostIPs", n.HostIPs)
	return nil
}

// hostAddresses reads the node's interfaces: the addresses node ports
// listen on, chosen by addr.NodePortIPs, the function `ipvs-proxy plan`
// applies to the Node's addresses, with n's node IPs for "primary"; and
// the host's addresses, whose service addresses are served but never bound
// (proxier.Node.HostIPs).
func (d *daemon) hostAddresses(n proxier.Node) (nodePort, host []netip.Addr, err error) {
	a := d.deps.Adapters.Addresses
	usable, err := a.NodeAddresses(nil) // every address a node port may use
	if err != nil {
		return nil, nil, fmt.Errorf("listing node addresses for node ports: %w", err)
	}
	if nodePort, err = addr.NodePortIPs(d.cfg.NodePortAddresses, n.IPs, usable); err != nil {
		return nil, nil, fmt.Errorf("selecting node addresses for node ports: %w", err)
	}
	if host, err = a.HostAddresses(); err != nil {
		return nil, nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	return nodePort, nonNil(host), nil
}

// familyNames are the families n proxies as the metrics' ip_family values
// ("IPv4", "IPv6"): its Families, else those of its addresses.
func familyNames(n proxier.Node) []string {
	var out []string
	for _, f := range n.Families {
		out = append(out, string(f))
	}
	if n.Families == nil {
		for _, a := range append(slices.Clone(n.IPs), n.NodePortIPs...) {
			f := string(v1.IPv4Protocol)
			if a.Is6() {
				f = string(v1.IPv6Protocol)
			}
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func nonNil(a []netip.Addr) []netip.Addr {
	if a == nil {
		return []netip.Addr{}
	}
	return a
}
