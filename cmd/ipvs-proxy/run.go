package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	kubeproxyconfig "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

const daemonUsage = `Usage: ipvs-proxy [flags]
       ipvs-proxy plan -f FILE [flags]   (print a node's IPVS state offline; see 'ipvs-proxy plan --help')

Runs the proxy on this node in place of kube-proxy --proxy-mode=ipvs: it
watches Services, EndpointSlices and this Node and programs IPVS, the
addresses of the dummy interface and an nftables table of its own. Flags and
--config files use kube-proxy's names.

Flags:
%s`

// runDaemon runs the daemon (the default command) and returns the exit code.
func runDaemon(args []string, s streams) int {
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	fs.SetOutput(s.err)
	o.AddDaemonFlags(fs)
	showVersion := addVersionFlag(fs)
	goflags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(goflags)
	fs.AddGoFlagSet(goflags)
	fs.Usage = func() { fmt.Fprintf(s.out, daemonUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(s.err, "ipvs-proxy: %v\nRun 'ipvs-proxy --help' for usage.\n", err)
		return exitUsage
	}
	if showVersion.print(s.out) {
		return exitOK
	}
	cfg, warnings, err := o.Complete(fs)
	for _, w := range warnings {
		warn("Ignored an unsupported setting", "setting", w)
	}
	if err != nil {
		fmt.Fprintf(s.err, "ipvs-proxy: %v\n", err)
		return exitUsage
	}
	if cfg.WriteConfigTo != "" {
		if err := options.WriteConfig(cfg, cfg.WriteConfigTo); err != nil {
			fmt.Fprintf(s.err, "ipvs-proxy: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	routeLogrus()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	v := version.Get()
	klog.InfoS("Version info", "version", v.GitVersion, "gitCommit", v.GitCommit, "buildDate", v.BuildDate, "goVersion", v.GoVersion)
	if err := daemonAction(ctx, cfg, configWatch(cfg, args)); err != nil {
		klog.ErrorS(err, "Failed")
		return exitFailure
	}
	return exitOK
}

// daemonAction runs --cleanup, --cleanup-kube-proxy, --init-only or the
// daemon itself, which watch stops when --config changes.
func daemonAction(ctx context.Context, cfg *options.Config, watch daemon.ConfigWatch) error {
	if cfg.CleanupKubeProxy && !cfg.Cleanup {
		// Only kube-proxy's iptables and ipsets: IPVS, the dummy interface
		// and our tables are not even opened.
		return daemon.CleanupKubeProxyOnly(ctx, kubeproxy.New(kubeproxy.Config{}))
	}
	if !cfg.Cleanup {
		checkKernel(klog.FromContext(ctx))
	}
	adapters, err := realAdapters(cfg)
	if err != nil {
		return err
	}
	owner := reconcile.Owner{ExcludeCIDRs: cfg.ExcludeCIDRs, NodePortMin: cfg.NodePortMin, NodePortMax: cfg.NodePortMax}
	if cfg.Cleanup {
		return daemon.Cleanup(ctx, adapters, owner, cfg.CleanupKubeProxy)
	}
	dcfg, err := daemonConfig(cfg, owner)
	if err != nil {
		return err
	}
	if cfg.InitOnly {
		return daemon.Init(ctx, dcfg, adapters)
	}
	// The metrics first: they install client-go's rest_client_* hooks,
	// which the client's transport already reports to.
	m := metrics.New()
	m.SetBuildInfo(metrics.BuildInfo(version.Get()))
	client, err := kubeClient(cfg)
	if err != nil {
		return err
	}
	dcfg.ConfigWatch = watch
	deps := daemon.Deps{Client: client, Adapters: adapters, Metrics: m}
	return daemon.Run(ctx, dcfg, deps)
}

// configWatch makes the daemon exit, after its lame duck and with status
// 0, when the --config file changes to content the same command line
// completes without error, so that the DaemonSet restarts it with the new
// settings: this is how `kubectl -n kube-system edit cm kube-proxy` takes
// effect, as with kube-proxy (cmd/kube-proxy/app/options.go, which exits
// with an error). Without --config nothing is watched.
func configWatch(cfg *options.Config, args []string) daemon.ConfigWatch {
	if cfg.ConfigFile == "" {
		return daemon.ConfigWatch{}
	}
	return daemon.ConfigWatch{
		Watcher: configwatch.New(cfg.ConfigFile, cfg.ConfigSum),
		Valid:   func() error { return completeAgain(args) },
	}
}

// completeAgain parses the daemon's command line again and completes it,
// which reads --config anew: the error the daemon would stop at on restart.
func completeAgain(args []string) error {
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddDaemonFlags(fs)
	addVersionFlag(fs)
	// klog's flags (-v...) were checked at start and are not re-registered:
	// klog.InitFlags binds its global settings.
	fs.ParseErrorsAllowlist.UnknownFlags = true
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, _, err := o.Complete(fs)
	return err
}

// daemonConfig maps the options onto the daemon's configuration.
func daemonConfig(cfg *options.Config, owner reconcile.Owner) (daemon.Config, error) {
	name := cfg.HostnameOverride()
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return daemon.Config{}, fmt.Errorf("finding the node name (set --hostname-override): %w", err)
		}
		name = strings.ToLower(strings.TrimSpace(h))
	}
	kp := &cfg.KubeProxy
	return daemon.Config{
		NodeName: name,
		Proxier:  cfg.Proxier(),
		Node: func(n *v1.Node) (proxier.Node, error) {
			node, warnings, err := cfg.Node(name, n)
			for _, w := range warnings {
				warn("Node address warning", "warning", w)
			}
			return node, err
		},
		NodePortAddresses:  kp.NodePortAddresses,
		Owner:              owner,
		SyncPeriod:         kp.IPVS.SyncPeriod.Duration,
		RepairPeriod:       cfg.RepairPeriod,
		MinSyncPeriod:      kp.IPVS.MinSyncPeriod.Duration,
		DrainTimeout:       cfg.DrainTimeout,
		DrainPollInterval:  cfg.DrainPollInterval,
		NoNotReadyDrain:    !cfg.NotReadyDrain,
		LameDuck:           cfg.LameDuck,
		HealthzBindAddress: kp.HealthzBindAddress,
		MetricsBindAddress: kp.MetricsBindAddress,
		Profiling:          kp.EnableProfiling,
		Configz:            configz(cfg),
		StrictARP:          kp.IPVS.StrictARP,
		IPv6:               configuredIPv6(cfg),
		Timeouts:           ipvs.Timeouts{TCP: kp.IPVS.TCPTimeout.Duration, TCPFin: kp.IPVS.TCPFinTimeout.Duration, UDP: kp.IPVS.UDPTimeout.Duration},
		Conntrack:          cfg.Conntrack(),
		CPUs:               sysctl.OnlineCPUs(),
		DryRun:             cfg.DryRun,
	}, nil
}

// configz is what /configz serves: the effective KubeProxyConfiguration
// under kube-proxy's name (k8s.io/kubernetes cmd/kube-proxy/app/server.go
// registers it with configz.New("kubeproxy.config.k8s.io")), and ours under
// its group.
func configz(cfg *options.Config) map[string]any {
	kp := cfg.KubeProxy
	kp.APIVersion, kp.Kind = kubeproxyconfig.SchemeGroupVersion.String(), "KubeProxyConfiguration"
	ours := cfg.IPVSProxy
	ours.APIVersion, ours.Kind = options.IPVSProxyAPIVersion, options.IPVSProxyKind
	return map[string]any{kubeproxyconfig.GroupName: kp, strings.Split(options.IPVSProxyAPIVersion, "/")[0]: ours}
}

// configuredIPv6 reports whether the configuration alone shows the node
// proxies IPv6: an IPv6 --cluster-cidr or --node-ip.
func configuredIPv6(cfg *options.Config) bool {
	for _, p := range cfg.ClusterCIDRs {
		if p.Addr().Is6() {
			return true
		}
	}
	for _, ip := range cfg.NodeIPs {
		if ip.Is6() {
			return true
		}
	}
	return false
}

// realAdapters opens the kernel adapters.
func realAdapters(cfg *options.Config) (daemon.Adapters, error) {
	v, err := ipvs.New()
	if err != nil {
		return daemon.Adapters{}, err
	}
	// The repair's virtual-server listing runs on sockets of its own, so
	// that the writes of the sync goroutine do not wait for it.
	lister, err := ipvs.New()
	if err != nil {
		return daemon.Adapters{}, err
	}
	a, err := addr.New(addr.Config{Name: cfg.DummyInterface, PrimaryIPs: cfg.NodeIPs})
	if err != nil {
		return daemon.Adapters{}, err
	}
	// The repair's address listing too (at 100,000 services, seconds).
	addrLister, err := addr.New(addr.Config{Name: cfg.DummyInterface, PrimaryIPs: cfg.NodeIPs})
	if err != nil {
		return daemon.Adapters{}, err
	}
	ct, err := conntrack.New("")
	if err != nil {
		return daemon.Adapters{}, err
	}
	ipv6 := false
	for _, p := range cfg.ClusterCIDRs {
		ipv6 = ipv6 || p.Addr().Is6()
	}
	nf := netfilter.New(netfilter.Config{IPv6: ipv6})
	return daemon.Adapters{IPVS: v, IPVSLister: lister, Addresses: a, AddressLister: addrLister, Netfilter: nf, Sysctl: &sysctl.Proc{Root: cfg.SysctlRoot},
		Conntrack: ct, KubeProxy: kubeproxy.New(kubeproxy.Config{})}, nil
}

// kubeClient builds the API client: --kubeconfig / --master, else the
// in-cluster service account; protobuf by default, kube-proxy's QPS.
func kubeClient(cfg *options.Config) (*kubeapi.Client, error) {
	cc := cfg.KubeProxy.ClientConnection
	var rc *rest.Config
	var err error
	if cc.Kubeconfig == "" && cfg.Master == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.BuildConfigFromFlags(cfg.Master, cc.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("building the API client configuration: %w", err)
	}
	rc.ContentType, rc.AcceptContentTypes = cc.ContentType, cc.AcceptContentTypes
	rc.QPS, rc.Burst = cc.QPS, int(cc.Burst)
	rc.UserAgent = "ipvs-proxy"
	return kubeapi.New(rc)
}
