package options

import (
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// configFlag is a flag that mirrors a configuration field: a
// KubeProxyConfiguration field, under kube-proxy's flag name, or one of
// ipvs-proxy's own IPVSProxyConfiguration fields.
type configFlag struct {
	name     string
	register func(fs *pflag.FlagSet, s *settings)
	// override copies the flag's field from src (the flags) to dst (the
	// configuration file with defaults applied).
	override func(dst, src *settings)
}

// sharedFlags change the state Build produces, so both `ipvs-proxy plan`
// and the daemon use them.
var sharedFlags = []configFlag{
	stringFlag("hostname-override", "", "The name of this node, matched against the Node object and endpoints' nodeName.",
		func(s *settings) *string { return &s.kp.HostnameOverride }),
	stringFlag("bind-address", "0.0.0.0", "Overrides the node IP of its family and makes that family primary (as kube-proxy's --bind-address); 0.0.0.0 and :: mean no override.",
		func(s *settings) *string { return &s.kp.BindAddress }),
	stringFlag("ipvs-scheduler", "", "The default IPVS scheduler: any the node's kernel offers, checked at start (Linux has "+strings.Join(proxier.Schedulers, ", ")+"; default rr).",
		func(s *settings) *string { return &s.kp.IPVS.Scheduler }),
	boolFlag("masquerade-all", false, "Masquerade all traffic sent to service addresses.",
		func(s *settings) *bool { return &s.kp.IPTables.MasqueradeAll }),
	stringFlag("cluster-cidr", "", "The pod CIDRs, comma-separated (one per IP family); traffic to cluster IPs from elsewhere is masqueraded.",
		func(s *settings) *string { return &s.kp.ClusterCIDR }),
	stringFlag("detect-local-mode", "", "How cluster-local (pod) traffic is told, as in kube-proxy: ClusterCIDR (the default: sources in --cluster-cidr), NodeCIDR (sources in the Node's spec.podCIDRs, followed as the Node changes), "+
		"BridgeInterface (traffic that enters through --pod-bridge-interface) or InterfaceNamePrefix (through an interface whose name starts with --pod-interface-name-prefix). "+
		"Traffic to cluster IPs that is not local, the node's own included, is masqueraded.",
		func(s *settings) *string { return (*string)(&s.kp.DetectLocalMode) }),
	stringFlag("pod-bridge-interface", "", "A bridge interface name. When --detect-local-mode is BridgeInterface, traffic is local if it enters the node through this bridge.",
		func(s *settings) *string { return &s.kp.DetectLocal.BridgeInterface }),
	stringFlag("pod-interface-name-prefix", "", "An interface name prefix. When --detect-local-mode is InterfaceNamePrefix, traffic is local if it enters the node through an interface whose name begins with this prefix.",
		func(s *settings) *string { return &s.kp.DetectLocal.InterfaceNamePrefix }),
	int32PtrFlag("iptables-masquerade-bit", DefaultMasqueradeBit, "The bit of the packet mark (0-31) that carries the masquerade decision from prerouting and output to postrouting, as kube-proxy's. "+
		"Used only with --detect-local-mode BridgeInterface or InterfaceNamePrefix: the other modes decide in postrouting and use no mark.",
		func(s *settings) **int32 { return &s.kp.IPTables.MasqueradeBit }),
	stringSliceFlag("nodeport-addresses", "CIDRs of the node addresses NodePorts listen on, and the keywords \"primary\" (the node IP of each family), \"localhost\" (loopback, which IPVS never serves) and \"all\". "+
		"A family no CIDR names is not restricted (default all: every address of the node's interfaces).",
		func(s *settings) *[]string { return &s.kp.NodePortAddresses }),
	stringSliceFlag("node-ip", "The node's addresses (repeatable or comma-separated), in place of the Node's InternalIP and ExternalIP addresses; the first of each family is its node IP, the first given the primary one.",
		func(s *settings) *[]string { return &s.own.NodeIPs }),
	stringFlag("service-proxy-name", "", "Handle exactly the services whose label service.kubernetes.io/service-proxy-name has this value (default: only services without that label).",
		func(s *settings) *string { return &s.own.ServiceProxyName }),
	featureGatesFlag(),
	stringFlag("proxy-mode", ModeIPVS, "The proxy mode. ipvs-proxy implements only ipvs; any other mode is an error (plan warns and goes on).",
		func(s *settings) *string { return (*string)(&s.kp.Mode) }),
	stringFlag("dummy-interface", DefaultDummyInterface, "The dummy interface service addresses are bound to. kube-proxy's IPVS mode uses kube-ipvs0; keeping that name lets ipvs-proxy adopt kube-proxy's addresses.",
		func(s *settings) *string { return &s.own.DummyInterface }),
}

// daemonFlags change only the running daemon: plan accepts them and lists
// those given (Options.RuntimeOnly).
var daemonFlags = []configFlag{
	// Talking to the API server.
	stringFlag("kubeconfig", "", "Path to a kubeconfig file with the API server's address and credentials (--master overrides the address); empty: the pod's in-cluster service account.",
		func(s *settings) *string { return &s.kp.ClientConnection.Kubeconfig }),
	stringFlag("master", "", "The API server's address, overriding the one in --kubeconfig.",
		func(s *settings) *string { return &s.own.Master }),
	stringFlag("kube-api-content-type", DefaultContentType, "Content type of requests sent to the API server.",
		func(s *settings) *string { return &s.kp.ClientConnection.ContentType }),
	float32Flag("kube-api-qps", DefaultQPS, "Queries per second to the API server (client-side rate limit, as kube-proxy's).",
		func(s *settings) *float32 { return &s.kp.ClientConnection.QPS }),
	int32Flag("kube-api-burst", DefaultBurst, "Queries allowed in a burst above --kube-api-qps.",
		func(s *settings) *int32 { return &s.kp.ClientConnection.Burst }),

	// Servers.
	serverFlag("healthz-bind-address", DefaultHealthzBindAddress, "IP:port of the /healthz and /livez server (a bare IP gets port 10256; [::]:10256 is the default when --bind-address is IPv6). "+
		"Given empty here, it disables the server; an empty healthzBindAddress in --config means the default, as in kube-proxy.",
		func(s *settings) (*string, *bool) { return &s.kp.HealthzBindAddress, &s.own.DisableHealthz }),
	serverFlag("metrics-bind-address", DefaultMetricsBindAddress, "IP:port of the /metrics server (a bare IP gets port 10249; [::1]:10249 is the default when --bind-address is IPv6; 0.0.0.0:10249 serves on all interfaces). "+
		"Given empty here, it disables the server; an empty metricsBindAddress in --config means the default, as in kube-proxy.",
		func(s *settings) (*string, *bool) { return &s.kp.MetricsBindAddress, &s.own.DisableMetrics }),
	stringFlag("logging-format", LoggingFormatText, "The log format: text (klog's, on standard error). kube-proxy's json format is refused at start (see docs/migrating-from-kube-proxy.md).",
		func(s *settings) *string { return &s.kp.Logging.Format }),
	boolFlag("profiling", false, "Serve Go's profiling handlers under /debug/pprof/ on the metrics server, as kube-proxy does.",
		func(s *settings) *bool { return &s.kp.EnableProfiling }),

	// The proxy.
	durationFlag("ipvs-sync-period", DefaultSyncPeriod, "How often the cheap drift checks run (nftables generation, one IPVS virtual server, sysctls); the health timeout is twice it. When set here or in the config file, also the period of the full read-back of IPVS and addresses, which otherwise runs every 30m; above 500 virtual servers that read-back is done in steps spread over its period, so it never holds up a change. Must be greater than 0.",
		func(s *settings) *time.Duration { return &s.kp.IPVS.SyncPeriod.Duration }),
	durationFlag("ipvs-min-sync-period", DefaultMinSyncPeriod, "Bounds how often changes are synced: two syncs may run back to back, then one per period, so a change that comes on its own is applied at once "+
		"and a stream of changes in batches (kube-proxy's IPVS mode ran its syncs under this bound until 1.32; since then it waits this long after every sync). "+
		"kube-proxy's IPVS mode defaults to 0 (one sync per Service or EndpointSlice event); ipvs-proxy defaults to 1s, like kube-proxy's iptables and nftables modes, "+
		"because during rolling updates of large services per-event syncs cost CPU on every node while 1s bounds the added programming latency. "+
		"Must be greater than 0 (0s in --config means this default) and at most --ipvs-sync-period.",
		func(s *settings) *time.Duration { return &s.kp.IPVS.MinSyncPeriod.Duration }),
	boolFlag("ipvs-strict-arp", false, "Set the arp_ignore=1 and arp_announce=2 sysctls so that the node does not answer ARP for service addresses bound to the dummy interface (needed by layer-2 load balancers).",
		func(s *settings) *bool { return &s.kp.IPVS.StrictARP }),
	stringSliceFlag("ipvs-exclude-cidrs", "CIDRs (comma-separated) of IPVS virtual servers that ipvs-proxy never changes or removes, even when it cleans up.",
		func(s *settings) *[]string { return &s.kp.IPVS.ExcludeCIDRs }),
	durationFlag("ipvs-tcp-timeout", 0, "Idle timeout of IPVS TCP connections; 0 keeps the system value.",
		func(s *settings) *time.Duration { return &s.kp.IPVS.TCPTimeout.Duration }),
	durationFlag("ipvs-tcpfin-timeout", 0, "Timeout of IPVS TCP connections after a FIN; 0 keeps the system value.",
		func(s *settings) *time.Duration { return &s.kp.IPVS.TCPFinTimeout.Duration }),
	durationFlag("ipvs-udp-timeout", 0, "Timeout of IPVS UDP entries; 0 keeps the system value.",
		func(s *settings) *time.Duration { return &s.kp.IPVS.UDPTimeout.Duration }),

	// Conntrack, set once at start as kube-proxy does (sysctl.ConntrackSettings).
	int32PtrFlag("conntrack-max-per-core", DefaultConntrackMaxPerCore, "Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min). "+
		"nf_conntrack_max and the conntrack hash size (a quarter of it) are only ever raised, as kube-proxy does.",
		func(s *settings) **int32 { return &s.kp.Conntrack.MaxPerCore }),
	int32PtrFlag("conntrack-min", DefaultConntrackMin, "Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).",
		func(s *settings) **int32 { return &s.kp.Conntrack.Min }),
	durationPtrFlag("conntrack-tcp-timeout-established", DefaultConntrackTCPEstablishedTimeout, "Idle timeout for established TCP connections (0 to leave as-is).",
		func(s *settings) **metav1.Duration { return &s.kp.Conntrack.TCPEstablishedTimeout }),
	durationPtrFlag("conntrack-tcp-timeout-close-wait", DefaultConntrackTCPCloseWaitTimeout, "NAT timeout for TCP connections in the CLOSE_WAIT state (0 to leave as-is).",
		func(s *settings) **metav1.Duration { return &s.kp.Conntrack.TCPCloseWaitTimeout }),
	boolFlag("conntrack-tcp-be-liberal", false, "Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1 (false leaves it as-is).",
		func(s *settings) *bool { return &s.kp.Conntrack.TCPBeLiberal }),
	durationFlag("conntrack-udp-timeout", 0, "Idle timeout for UNREPLIED UDP connections (0 to leave as-is).",
		func(s *settings) *time.Duration { return &s.kp.Conntrack.UDPTimeout.Duration }),
	durationFlag("conntrack-udp-timeout-stream", 0, "Idle timeout for ASSURED UDP connections (0 to leave as-is).",
		func(s *settings) *time.Duration { return &s.kp.Conntrack.UDPStreamTimeout.Duration }),

	// ipvs-proxy's own settings (IPVSProxyConfiguration).
	stringFlag("nodeport-range", DefaultNodePortRange, "The cluster's NodePort range (kube-apiserver's --service-node-port-range), LOW-HIGH or one port. "+
		"IPVS virtual servers on node addresses with a port in this range are ipvs-proxy's to create, repair and remove; others on node addresses are left alone.",
		func(s *settings) *string { return &s.own.NodePortRange }),
	durationPtrFlag("drain-timeout", DefaultDrainTimeout, "How long an endpoint that vanished or turned not-ready without terminating (a crashed pod, a dead node) keeps draining at weight 0 before it is removed; "+
		"without this bound its connections would hang for the ~15 minutes TCP takes to give up. Terminating endpoints are bounded by their pod's grace period instead. 0 removes such endpoints at once.",
		func(s *settings) **metav1.Duration { return &s.own.DrainTimeout }),
	durationPtrFlag("drain-poll-interval", DefaultDrainPollInterval, "How often draining real servers are checked for remaining connections. Must be greater than 0.",
		func(s *settings) **metav1.Duration { return &s.own.DrainPollInterval }),
	durationPtrFlag("lame-duck-duration", DefaultLameDuck, "After SIGTERM, how long /healthz and the health-check node ports answer 503 so that load balancers move away before the process exits (kernel rules stay in place). "+
		"0 exits at once; keep it below the pod's terminationGracePeriodSeconds.",
		func(s *settings) **metav1.Duration { return &s.own.LameDuckDuration }),
	stringFlag("sysctl-root", DefaultSysctlRoot, "The directory the kernel parameters are read and written under, as under /proc/sys. "+
		"A container whose /proc/sys is read-only mounts the host's /proc/sys/net (a hostPath volume) at DIR/net and passes DIR: only net.* parameters are written. "+
		"hostNetwork makes them the node's, since files under /proc/sys/net show the network namespace of the process that opens them.",
		func(s *settings) *string { return &s.own.SysctlRoot }),
	boolFlag("dry-run", false, "Run against the cluster and log every plan, but never change the kernel (to compare with kube-proxy before switching).",
		func(s *settings) *bool { return &s.own.DryRun }),
}

// actionFlags are daemon flags that choose what the process does rather
// than configure it; they are not part of any configuration file.
var actionFlags = []string{"cleanup", "cleanup-kube-proxy", "init-only", "write-config-to"}

// runtimeFlagNames are the flags that change only the running daemon.
func runtimeFlagNames() []string {
	names := make([]string, 0, len(daemonFlags)+len(actionFlags)+len(portFlags))
	for _, f := range daemonFlags {
		names = append(names, f.name)
	}
	for _, f := range portFlags {
		names = append(names, f.name)
	}
	return append(names, actionFlags...)
}

// addActionFlags registers actionFlags.
func (o *Options) addActionFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.cleanup, "cleanup", false, "Remove the IPVS virtual servers, dummy-interface addresses and netfilter rules ipvs-proxy programs, then exit.")
	fs.BoolVar(&o.cleanupKubeProxy, "cleanup-kube-proxy", false, "Remove what kube-proxy's IPVS mode leaves behind (its iptables chains, the jumps to them and its ipsets), then exit. "+
		"Alone it leaves IPVS, the dummy interface and ipvs-proxy's nftables tables in place, for a node where ipvs-proxy has taken over; with --cleanup it runs after that cleanup.")
	fs.BoolVar(&o.initOnly, "init-only", false, "Prepare the kernel as the daemon does at start (IPVS and nftables probes, dummy interface, sysctls, IPVS timeouts), then exit. "+
		"Not needed when the daemon can write its sysctls itself (see --sysctl-root).")
	fs.StringVar(&o.writeConfigTo, "write-config-to", "", "Write the effective configuration to this file and exit: a KubeProxyConfiguration document, then an IPVSProxyConfiguration document with ipvs-proxy's own settings. --config reads it back.")
}

// ignoredFlag is a kube-proxy flag ipvs-proxy accepts, so that kube-proxy's
// command lines keep working, and ignores with a warning.
type ignoredFlag struct {
	name     string
	register func(fs *pflag.FlagSet, name, usage string)
	// reason says why the flag does nothing here.
	reason string
}

const (
	iptablesReason = "it configures kube-proxy's iptables mode"
)

// ignoredFlags are kube-proxy's flags that have no meaning for ipvs-proxy.
var ignoredFlags = []ignoredFlag{
	{"config-sync-period", durationVar(15 * time.Minute), "ipvs-proxy's informers never resync periodically; the periodic full sync repairs the kernel instead"},
	{"oom-score-adj", int32Var(-999), "ipvs-proxy does not change its OOM score; use the pod's priority and resources"},
	{"iptables-sync-period", durationVar(30 * time.Second), iptablesReason},
	{"iptables-min-sync-period", durationVar(time.Second), iptablesReason},
	{"iptables-localhost-nodeports", boolVar(true), iptablesReason},
	{"bind-address-hard-fail", boolVar(false), "failing to open the health or metrics server is always fatal"},
	{"show-hidden-metrics-for-version", stringVar(""), "ipvs-proxy hides no metrics"},
	{"log-flush-frequency", durationVar(5 * time.Second), loggingReason},
	{"log-json-split-stream", boolVar(false), loggingReason},
	{"log-json-info-buffer-size", stringVar("0"), loggingReason},
	{"log-text-split-stream", boolVar(false), loggingReason},
	{"log-text-info-buffer-size", stringVar("0"), loggingReason},
}

// loggingReason explains the ignored component-base logging flags.
const loggingReason = "ipvs-proxy logs klog text to standard error; use -v for verbosity"

func (f ignoredFlag) usage() string {
	return "Accepted for compatibility with kube-proxy and ignored: " + f.reason + "."
}

func durationVar(def time.Duration) func(*pflag.FlagSet, string, string) {
	return func(fs *pflag.FlagSet, name, usage string) { fs.Duration(name, def, usage) }
}

func int32Var(def int32) func(*pflag.FlagSet, string, string) {
	return func(fs *pflag.FlagSet, name, usage string) { fs.Int32(name, def, usage) }
}

func boolVar(def bool) func(*pflag.FlagSet, string, string) {
	return func(fs *pflag.FlagSet, name, usage string) { fs.Bool(name, def, usage) }
}

func stringVar(def string) func(*pflag.FlagSet, string, string) {
	return func(fs *pflag.FlagSet, name, usage string) { fs.String(name, def, usage) }
}

// The constructors below build a configFlag from a flag's name, default,
// help text and the field it sets.

func stringFlag(name, def, usage string, field func(*settings) *string) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.StringVar(field(s), name, def, usage) },
		func(dst, src *settings) { *field(dst) = *field(src) }}
}

func boolFlag(name string, def bool, usage string, field func(*settings) *bool) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.BoolVar(field(s), name, def, usage) },
		func(dst, src *settings) { *field(dst) = *field(src) }}
}

func int32Flag(name string, def int32, usage string, field func(*settings) *int32) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.Int32Var(field(s), name, def, usage) },
		func(dst, src *settings) { *field(dst) = *field(src) }}
}

func float32Flag(name string, def float32, usage string, field func(*settings) *float32) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.Float32Var(field(s), name, def, usage) },
		func(dst, src *settings) { *field(dst) = *field(src) }}
}

func durationFlag(name string, def time.Duration, usage string, field func(*settings) *time.Duration) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.DurationVar(field(s), name, def, usage) },
		func(dst, src *settings) { *field(dst) = *field(src) }}
}

// int32PtrFlag sets an optional integer, where nil means "not set".
func int32PtrFlag(name string, def int32, usage string, field func(*settings) **int32) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) {
			*field(s) = new(int32)
			fs.Int32Var(*field(s), name, def, usage)
		},
		func(dst, src *settings) { v := **field(src); *field(dst) = &v }}
}

// durationPtrFlag sets an optional duration, where nil means "not set" and
// 0 is a value.
func durationPtrFlag(name string, def time.Duration, usage string, field func(*settings) **metav1.Duration) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) {
			*field(s) = &metav1.Duration{}
			fs.DurationVar(&(*field(s)).Duration, name, def, usage)
		},
		func(dst, src *settings) { *field(dst) = &metav1.Duration{Duration: (*field(src)).Duration} }}
}

func stringSliceFlag(name, usage string, field func(*settings) *[]string) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) { fs.StringSliceVar(field(s), name, nil, usage) },
		func(dst, src *settings) { *field(dst) = append([]string(nil), *field(src)...) }}
}

// serverFlag sets a server's bind address. Given empty on the command line
// it disables the server, which disabled records: in a configuration file an
// empty address means the default.
func serverFlag(name, def, usage string, field func(*settings) (addr *string, disabled *bool)) configFlag {
	return configFlag{name,
		func(fs *pflag.FlagSet, s *settings) {
			addr, _ := field(s)
			fs.StringVar(addr, name, def, usage)
		},
		func(dst, src *settings) {
			dstAddr, disabled := field(dst)
			srcAddr, _ := field(src)
			*dstAddr = *srcAddr
			*disabled = *srcAddr == ""
		}}
}

// featureGatesFlag is --feature-gates. Its names are checked by Complete:
// unknown ones are an error on the command line.
func featureGatesFlag() configFlag {
	usage := "Comma-separated Name=true|false pairs that turn ipvs-proxy's optional behaviours on or off; kube-proxy's gates are accepted and ignored with a warning. Gates:\n" +
		strings.Join(newFeatureGate().KnownFeatures(), "\n")
	return configFlag{"feature-gates",
		func(fs *pflag.FlagSet, s *settings) {
			fs.Var(cliflag.NewMapStringBool(&s.kp.FeatureGates), "feature-gates", usage)
		},
		func(dst, src *settings) {
			if dst.kp.FeatureGates == nil {
				dst.kp.FeatureGates = map[string]bool{}
			}
			for k, v := range src.kp.FeatureGates {
				dst.kp.FeatureGates[k] = v
			}
		}}
}
