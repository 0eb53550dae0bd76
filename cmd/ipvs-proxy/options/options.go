// Package options turns ipvs-proxy's command line and configuration file
// into the settings the proxy core and the daemon need.
//
// The daemon registers its flags with Options.AddDaemonFlags, and
// `ipvs-proxy plan` the same set with Options.AddFlags, so that any command
// line the daemon takes can be previewed; both name them as kube-proxy does
// where the meaning is the same. After parsing, the command calls
// Options.Complete. It reads --config when given (a
// KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1, such as the
// config.conf of kubeadm's kube-proxy ConfigMap, optionally followed by an
// IPVSProxyConfiguration document with ipvs-proxy's own settings), fills the
// fields left unset with the defaults, lays every flag set on the command
// line over it, and validates the result:
//
//	--config file ─► defaults ─┐
//	                           ├─► Complete ─► Config ─┬─► Config.Proxier()       ─► proxier.Config
//	flags changed ─────────────┘                       ├─► Config.Node(name, Node) ─► proxier.Node
//	                                                   └─► WriteConfig(cfg, file)  ─► --write-config-to
//
// Config.Node applies kube-proxy's rules for the node IPs, the IP families
// proxied and --nodeport-addresses (the latter through addr.NodePortIPs,
// which the daemon applies again to the addresses of the host's
// interfaces). Settings given to plan that only change the running daemon
// (sync periods, servers, sysctls...) are accepted and listed by
// Options.RuntimeOnly.
//
// Fields of the file that the command does not use (Options.Supported)
// produce one warning each, never an error, so an existing kube-proxy
// configuration works as it is, and are cleared from Config.KubeProxy. So
// do kube-proxy flags that mean nothing here (--oom-score-adj,
// --config-sync-period...). Values that cannot be right (an
// unparsable CIDR, an unknown scheduler, a negative period, a proxy mode
// other than ipvs in the daemon) are errors.
package options

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/component-base/featuregate"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Options holds the parsed command line. Register its flags with AddFlags
// or AddDaemonFlags, parse, then call Complete.
type Options struct {
	// ConfigFile is --config: a KubeProxyConfiguration, optionally followed
	// by an IPVSProxyConfiguration, to start from.
	ConfigFile string
	// Supported are the configuration fields, as JSON paths such as
	// "ipvs.scheduler" (those of the IPVSProxyConfiguration prefixed with
	// "IPVSProxyConfiguration."), that the command uses; every other field
	// set in the file is reported as unsupported. nil means DaemonFields.
	Supported []string

	// flags holds the values of the flags that mirror a configuration
	// field; only those changed on the command line are copied over the file.
	flags settings
	// daemon is set by AddDaemonFlags: Complete checks what the daemon uses.
	daemon bool
	// runtimeOnly are the settings given to plan that only the running
	// daemon uses (see RuntimeOnly).
	runtimeOnly []string
	// The daemon's action flags.
	cleanup, cleanupKubeProxy, initOnly bool
	writeConfigTo                       string
	// ports are kube-proxy's deprecated --healthz-port and --metrics-port.
	ports map[string]*int32
}

// settings is what a configuration file or the command line sets.
type settings struct {
	kp  kubeproxy.KubeProxyConfiguration
	own IPVSProxyConfiguration
}

// PlanFields are the configuration fields that change what `ipvs-proxy
// plan` prints (the state Build produces for the node). plan accepts all of
// DaemonFields; the others only change the running daemon.
var PlanFields = []string{
	"hostnameOverride", "bindAddress", "mode", "ipvs.scheduler", "iptables.masqueradeAll",
	"clusterCIDR", "detectLocalMode", "detectLocal.bridgeInterface", "detectLocal.interfaceNamePrefix",
	"iptables.masqueradeBit", "nodePortAddresses", "featureGates",
	IPVSProxyKind + ".serviceProxyName", IPVSProxyKind + ".nodeIPs", IPVSProxyKind + ".dummyInterface",
}

// DaemonFields are the configuration fields the daemon uses: those of plan,
// the API client's, the servers', the IPVS ones and all of ipvs-proxy's own.
var DaemonFields = append(slices.Clone(PlanFields),
	"clientConnection.kubeconfig", "clientConnection.qps", "clientConnection.burst",
	"clientConnection.contentType", "clientConnection.acceptContentTypes",
	"healthzBindAddress", "metricsBindAddress", "enableProfiling", "logging.format",
	"ipvs.syncPeriod", "ipvs.minSyncPeriod", "ipvs.strictARP", "ipvs.excludeCIDRs",
	"ipvs.tcpTimeout", "ipvs.tcpFinTimeout", "ipvs.udpTimeout", "conntrack",
	IPVSProxyKind,
)

// AddFlags registers the flags of `ipvs-proxy plan` on fs: the daemon's
// whole set (see AddDaemonFlags), so that any command line the daemon
// takes, kube-proxy's included, can be previewed. Those that only change
// the running daemon are accepted, and RuntimeOnly lists the ones given.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "config", "", "A KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1), optionally followed by an IPVSProxyConfiguration document (ipvs-proxy.io/v1alpha1); flags given on the command line override it.")
	for _, f := range o.flagTable() {
		f.register(fs, &o.flags)
	}
	o.addActionFlags(fs)
	o.addPortFlags(fs)
	for _, f := range ignoredFlags {
		f.register(fs, f.name, f.usage())
	}
}

// AddDaemonFlags registers the daemon's flags on fs: --config, the
// kube-proxy flags the daemon implements, ipvs-proxy's own, the action
// flags (--cleanup, --init-only, --write-config-to) and the kube-proxy
// flags accepted and ignored. It leaves -v and the other klog flags to the
// caller (klog.InitFlags on a Go flag set added with fs.AddGoFlagSet).
func (o *Options) AddDaemonFlags(fs *pflag.FlagSet) {
	o.daemon = true
	o.AddFlags(fs)
}

// Config is the effective, validated configuration.
type Config struct {
	// KubeProxy is the configuration file with the defaults applied and the
	// command-line flags laid over it. Fields the command does not use are
	// cleared. An empty HealthzBindAddress or MetricsBindAddress means the
	// server is disabled.
	KubeProxy kubeproxy.KubeProxyConfiguration
	// IPVSProxy holds ipvs-proxy's own settings, built the same way; the
	// fields below are parsed from it.
	IPVSProxy IPVSProxyConfiguration
	// ConfigFile is --config ("" when not given) and ConfigSum the Sum of
	// the content read from it.
	ConfigFile string
	ConfigSum  configwatch.Sum

	// NodeIPs are the --node-ip addresses (empty: take them from the Node).
	NodeIPs []netip.Addr
	// ServiceProxyName is --service-proxy-name.
	ServiceProxyName string
	// ClusterCIDRs are the parsed clusterCIDR prefixes.
	ClusterCIDRs []netip.Prefix
	// LocalCIDRs are the sources treated as cluster-local: ClusterCIDRs with
	// detectLocalMode ClusterCIDR, none otherwise.
	LocalCIDRs []netip.Prefix
	// LocalFromNodePodCIDRs is detectLocalMode NodeCIDR: the Node's pod
	// CIDRs are the local sources (proxier.LocalSources).
	LocalFromNodePodCIDRs bool
	// LocalInterface is detectLocalMode BridgeInterface (the bridge's name)
	// or InterfaceNamePrefix (a prefix); its Name is empty otherwise.
	LocalInterface model.LocalInterface
	// MasqueradeMark is 1<<iptables.masqueradeBit with a LocalInterface,
	// the mark that carries the masquerade decision; 0 otherwise.
	MasqueradeMark uint32
	// BindIP is bindAddress when it names one address (not 0.0.0.0 or ::).
	BindIP netip.Addr
	// HostIPv6 reports whether the host's kernel has IPv6 enabled, which
	// decides the IP families Node proxies. nil means KernelIPv6, the check
	// kube-proxy makes; `ipvs-proxy plan`, which cannot look at the node,
	// sets it from --host-ipv6.
	HostIPv6 func() bool
	// FeatureGates holds the gates' values (see ServiceSchedulerAnnotations
	// and NotReadyDrain).
	FeatureGates featuregate.FeatureGate
	// NotReadyDrain is the NotReadyDrain gate.
	NotReadyDrain bool

	// The fields below change only the running daemon; plan accepts and
	// ignores them.

	// Master is --master.
	Master string
	// ExcludeCIDRs are the parsed ipvs.excludeCIDRs.
	ExcludeCIDRs []netip.Prefix
	// DrainTimeout, DrainPollInterval and LameDuck are --drain-timeout,
	// --drain-poll-interval and --lame-duck-duration.
	DrainTimeout, DrainPollInterval, LameDuck time.Duration
	// RepairPeriod is the period of the full read-back of the kernel that
	// repairs any drift: ipvs.syncPeriod (--ipvs-sync-period) when set,
	// else DefaultRepairPeriod. KubeProxy.IPVS.SyncPeriod, defaulted to
	// kube-proxy's 30 s, paces the cheap checks and the health timeout.
	RepairPeriod time.Duration
	// DummyInterface is --dummy-interface.
	DummyInterface string
	// SysctlRoot is --sysctl-root: where the kernel parameters are.
	SysctlRoot string
	// NodePortMin and NodePortMax are the bounds of --nodeport-range.
	NodePortMin, NodePortMax uint16
	// DryRun is --dry-run.
	DryRun bool
	// Cleanup, CleanupKubeProxy, InitOnly and WriteConfigTo are the action
	// flags --cleanup, --cleanup-kube-proxy, --init-only and
	// --write-config-to.
	Cleanup, CleanupKubeProxy, InitOnly bool
	WriteConfigTo                       string
}

// Complete reads --config when given, applies the defaults and the flags
// changed on fs over it and validates the result. fs must be the flag set
// passed to AddFlags or AddDaemonFlags, already parsed. Warnings name
// configuration fields and flags that are set but not used; the error
// reports an unreadable file or an invalid value.
func (o *Options) Complete(fs *pflag.FlagSet) (*Config, []string, error) {
	s, sum, warnings, err := o.load()
	if err != nil {
		return nil, nil, err
	}
	fileSet := s.setFields()
	syncPeriodSet := s.kp.IPVS.SyncPeriod.Duration != 0
	applyDefaults(&s)
	for _, f := range o.flagTable() {
		if fs.Changed(f.name) {
			f.override(&s, &o.flags)
		}
	}
	syncPeriodSet = syncPeriodSet || fs.Changed("ipvs-sync-period")
	w, err := o.applyPortFlags(fs, &s)
	warnings = append(warnings, w...)
	if err != nil {
		return nil, warnings, err
	}
	applyServerDefaults(&s)
	for _, f := range ignoredFlags {
		if fs.Changed(f.name) {
			warnings = append(warnings, fmt.Sprintf("flag --%s is ignored: %s", f.name, f.reason))
		}
	}
	cfg := &Config{KubeProxy: s.kp, IPVSProxy: s.own, ConfigFile: o.ConfigFile, ConfigSum: sum,
		Cleanup: o.cleanup, CleanupKubeProxy: o.cleanupKubeProxy, InitOnly: o.initOnly, WriteConfigTo: o.writeConfigTo,
		RepairPeriod: DefaultRepairPeriod}
	if syncPeriodSet {
		cfg.RepairPeriod = s.kp.IPVS.SyncPeriod.Duration
	}
	w, err = cfg.validate(o.flags.kp.FeatureGates, o.daemon)
	warnings = append(warnings, w...)
	if err != nil {
		return nil, warnings, err
	}
	if !o.daemon {
		o.runtimeOnly = runtimeOnly(fs, fileSet)
	}
	return cfg, warnings, nil
}

// load reads --config, when given, and clears the fields the command does
// not use.
func (o *Options) load() (settings, configwatch.Sum, []string, error) {
	if o.ConfigFile == "" {
		return settings{}, configwatch.Sum{}, nil, nil
	}
	supported := o.supported()
	f, warnings, err := LoadFile(o.ConfigFile, supported)
	if err != nil {
		return settings{}, configwatch.Sum{}, nil, err
	}
	s := settings{kp: f.KubeProxy, own: f.IPVSProxy}
	clearUnsupported(reflect.ValueOf(&s.kp).Elem(), "", supported)
	clearUnsupported(reflect.ValueOf(&s.own).Elem(), IPVSProxyKind, supported)
	return s, f.Sum, warnings, nil
}

// setFields returns the paths of the fields s sets, those of the
// IPVSProxyConfiguration prefixed with its kind.
func (s *settings) setFields() []string {
	out := SetFields(&s.kp)
	var own []string
	walkSet(reflect.ValueOf(&s.own).Elem(), "", &own)
	for _, p := range own {
		out = append(out, IPVSProxyKind+"."+p)
	}
	return out
}

// RuntimeOnly returns, after Complete for `ipvs-proxy plan`, the settings
// given that change only the running daemon, not the state plan prints:
// flags as "--name", in registration order, then configuration fields as
// paths ("ipvs.syncPeriod", "IPVSProxyConfiguration.drainTimeout").
func (o *Options) RuntimeOnly() []string { return slices.Clone(o.runtimeOnly) }

// runtimeOnly lists the daemon-only flags changed on fs and the fields of
// fileSet (the paths set in the configuration file) that plan ignores.
func runtimeOnly(fs *pflag.FlagSet, fileSet []string) []string {
	var out []string
	for _, name := range runtimeFlagNames() {
		if fs.Changed(name) {
			out = append(out, "--"+name)
		}
	}
	for _, p := range fileSet {
		if isSupported(p, DaemonFields) && !isSupported(p, PlanFields) {
			out = append(out, p)
		}
	}
	return out
}

func (o *Options) supported() []string {
	if o.Supported != nil {
		return o.Supported
	}
	return DaemonFields
}

func (o *Options) flagTable() []configFlag {
	return slices.Concat(sharedFlags, daemonFlags)
}

// Proxier returns the configuration proxier.Build needs.
func (c *Config) Proxier() proxier.Config {
	return proxier.Config{
		Scheduler:                   c.KubeProxy.IPVS.Scheduler,
		MasqueradeAll:               c.KubeProxy.IPTables.MasqueradeAll,
		LocalCIDRs:                  slices.Clone(c.LocalCIDRs),
		LocalFromNodePodCIDRs:       c.LocalFromNodePodCIDRs,
		LocalInterface:              c.LocalInterface,
		MasqueradeMark:              c.MasqueradeMark,
		ServiceProxyName:            c.ServiceProxyName,
		DisableSchedulerAnnotations: c.FeatureGates != nil && !c.FeatureGates.Enabled(ServiceSchedulerAnnotations),
	}
}

// HostnameOverride returns hostnameOverride as kube-proxy normalises it:
// trimmed and lower-cased. "" means not set.
func (c *Config) HostnameOverride() string {
	return strings.ToLower(strings.TrimSpace(c.KubeProxy.HostnameOverride))
}
