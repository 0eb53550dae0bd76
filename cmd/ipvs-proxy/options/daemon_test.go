package options

import (
	"flag"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// completeDaemon parses args as the daemon's command line and completes it.
func completeDaemon(t *testing.T, args ...string) (*Config, []string, error) {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return o.Complete(fs)
}

// daemonView is what the daemon reads from a Config, flattened for
// comparison.
type daemonView struct {
	Mode, Kubeconfig, Master, ContentType, AcceptContentTypes string
	QPS                                                       float32
	Burst                                                     int32
	Healthz, Metrics                                          string

	SyncPeriod, MinSyncPeriod, TCPTimeout, TCPFinTimeout, UDPTimeout time.Duration
	StrictARP                                                        bool
	ExcludeCIDRs                                                     []netip.Prefix

	DrainTimeout, DrainPollInterval, LameDuck time.Duration
	DummyInterface, SysctlRoot                string
	NodePortMin, NodePortMax                  uint16
	NotReadyDrain, SchedulerAnnotations       bool
	ServiceProxyName                          string
	NodeIPs                                   []netip.Addr

	DryRun, Cleanup, CleanupKubeProxy, InitOnly bool
	WriteConfigTo                               string
}

func viewOf(c *Config) daemonView {
	kp := &c.KubeProxy
	return daemonView{
		Mode: string(kp.Mode), Kubeconfig: kp.ClientConnection.Kubeconfig, Master: c.Master,
		ContentType: kp.ClientConnection.ContentType, AcceptContentTypes: kp.ClientConnection.AcceptContentTypes,
		QPS: kp.ClientConnection.QPS, Burst: kp.ClientConnection.Burst,
		Healthz: kp.HealthzBindAddress, Metrics: kp.MetricsBindAddress,
		SyncPeriod: kp.IPVS.SyncPeriod.Duration, MinSyncPeriod: kp.IPVS.MinSyncPeriod.Duration,
		TCPTimeout: kp.IPVS.TCPTimeout.Duration, TCPFinTimeout: kp.IPVS.TCPFinTimeout.Duration, UDPTimeout: kp.IPVS.UDPTimeout.Duration,
		StrictARP: kp.IPVS.StrictARP, ExcludeCIDRs: c.ExcludeCIDRs,
		DrainTimeout: c.DrainTimeout, DrainPollInterval: c.DrainPollInterval, LameDuck: c.LameDuck,
		DummyInterface: c.DummyInterface, SysctlRoot: c.SysctlRoot, NodePortMin: c.NodePortMin, NodePortMax: c.NodePortMax,
		NotReadyDrain: c.NotReadyDrain, SchedulerAnnotations: !c.Proxier().DisableSchedulerAnnotations,
		ServiceProxyName: c.ServiceProxyName, NodeIPs: c.NodeIPs,
		DryRun: c.DryRun, Cleanup: c.Cleanup, CleanupKubeProxy: c.CleanupKubeProxy, InitOnly: c.InitOnly, WriteConfigTo: c.WriteConfigTo,
	}
}

// defaultView is the daemon's configuration with no flags and no file.
func defaultView() daemonView {
	return daemonView{
		Mode: "ipvs", ContentType: "application/vnd.kubernetes.protobuf", QPS: 5, Burst: 10,
		Healthz: "0.0.0.0:10256", Metrics: "127.0.0.1:10249",
		SyncPeriod: 30 * time.Second, MinSyncPeriod: time.Second,
		DrainTimeout: 10 * time.Second, DrainPollInterval: 2 * time.Second, LameDuck: 5 * time.Second,
		DummyInterface: "kube-ipvs0", SysctlRoot: "/proc/sys", NodePortMin: 30000, NodePortMax: 32767,
		NotReadyDrain: true, SchedulerAnnotations: true,
	}
}

const ownHeader = "---\napiVersion: ipvs-proxy.io/v1alpha1\nkind: IPVSProxyConfiguration\n"

func TestDaemonConfig(t *testing.T) {
	tests := []struct {
		name   string
		file   string // configuration file path
		config string // or configuration text
		args   []string
		mutate func(v *daemonView)
	}{
		{name: "defaults", mutate: func(*daemonView) {}},
		{name: "kubeconfig and master", args: []string{"--kubeconfig=/etc/kube/proxy.conf", "--master=https://198.18.0.1:6443"},
			mutate: func(v *daemonView) { v.Kubeconfig, v.Master = "/etc/kube/proxy.conf", "https://198.18.0.1:6443" }},
		{name: "API client", args: []string{"--kube-api-qps=50", "--kube-api-burst=100", "--kube-api-content-type=application/json"},
			mutate: func(v *daemonView) { v.QPS, v.Burst, v.ContentType = 50, 100, "application/json" }},
		{name: "server addresses", args: []string{"--healthz-bind-address=198.18.0.5:8080", "--metrics-bind-address=[::]:9090"},
			mutate: func(v *daemonView) { v.Healthz, v.Metrics = "198.18.0.5:8080", "[::]:9090" }},
		{name: "a bare IP gets the default port", args: []string{"--healthz-bind-address=198.18.0.5", "--metrics-bind-address=::1"},
			mutate: func(v *daemonView) { v.Healthz, v.Metrics = "198.18.0.5:10256", "[::1]:10249" }},
		{name: "empty server addresses disable the servers", args: []string{"--healthz-bind-address=", "--metrics-bind-address="},
			mutate: func(v *daemonView) { v.Healthz, v.Metrics = "", "" }},
		{name: "IPv6 bind address makes IPv6 server defaults", args: []string{"--bind-address=fd00::5"},
			mutate: func(v *daemonView) { v.Healthz, v.Metrics = "[::]:10256", "[::1]:10249" }},
		{name: "proxy mode ipvs", args: []string{"--proxy-mode=ipvs"}, mutate: func(*daemonView) {}},
		{name: "empty proxy mode means ipvs", args: []string{"--proxy-mode="}, mutate: func(*daemonView) {}},
		{name: "IPVS periods and timeouts",
			args: []string{"--ipvs-sync-period=1m", "--ipvs-min-sync-period=100ms", "--ipvs-tcp-timeout=15m",
				"--ipvs-tcpfin-timeout=30s", "--ipvs-udp-timeout=10s", "--ipvs-strict-arp", "--ipvs-exclude-cidrs=198.18.200.1/24,fd00:1::/64"},
			mutate: func(v *daemonView) {
				v.SyncPeriod, v.MinSyncPeriod, v.TCPTimeout, v.TCPFinTimeout, v.UDPTimeout = time.Minute, 100*time.Millisecond, 15*time.Minute, 30*time.Second, 10*time.Second
				v.StrictARP, v.ExcludeCIDRs = true, prefixes("198.18.200.0/24", "fd00:1::/64")
			}},
		{name: "own settings",
			args: []string{"--drain-timeout=1m", "--drain-poll-interval=500ms", "--lame-duck-duration=20s", "--dummy-interface=ipvs0",
				"--nodeport-range=20000-20999", "--dry-run", "--service-proxy-name=ipvs-proxy", "--node-ip=198.18.128.11"},
			mutate: func(v *daemonView) {
				v.DrainTimeout, v.DrainPollInterval, v.LameDuck, v.DummyInterface = time.Minute, 500*time.Millisecond, 20*time.Second, "ipvs0"
				v.NodePortMin, v.NodePortMax, v.DryRun, v.ServiceProxyName = 20000, 20999, true, "ipvs-proxy"
				v.NodeIPs = addrs("198.18.128.11")
			}},
		{name: "zero drain timeout and lame duck are values", args: []string{"--drain-timeout=0", "--lame-duck-duration=0s"},
			mutate: func(v *daemonView) { v.DrainTimeout, v.LameDuck = 0, 0 }},
		{name: "one NodePort", args: []string{"--nodeport-range=30080"}, mutate: func(v *daemonView) { v.NodePortMin, v.NodePortMax = 30080, 30080 }},
		{name: "actions", args: []string{"--cleanup", "--cleanup-kube-proxy", "--write-config-to=/tmp/x.yaml"},
			mutate: func(v *daemonView) { v.Cleanup, v.CleanupKubeProxy, v.WriteConfigTo = true, true, "/tmp/x.yaml" }},
		{name: "init only", args: []string{"--init-only"}, mutate: func(v *daemonView) { v.InitOnly = true }},
		{name: "cleanup-kube-proxy alone", args: []string{"--cleanup-kube-proxy"}, mutate: func(v *daemonView) { v.CleanupKubeProxy = true }},
		{name: "sysctl root, cleaned", args: []string{"--sysctl-root=/host/proc/sys/"}, mutate: func(v *daemonView) { v.SysctlRoot = "/host/proc/sys" }},
		{name: "sysctl root from the file", config: ownHeader + "sysctlRoot: /host/proc/sys\n", mutate: func(v *daemonView) { v.SysctlRoot = "/host/proc/sys" }},
		{name: "kubeadm config.conf: zero fields take the defaults", file: "testdata/kubeadm-config.conf",
			mutate: func(v *daemonView) { v.Kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf" }},
		{name: "kube-proxy's defaults but minSyncPeriod 0s, which means ours", file: "testdata/kube-proxy-defaults.conf",
			mutate: func(v *daemonView) { v.Kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf" }},
		{name: "file values",
			config: header + `clientConnection: {kubeconfig: /k, qps: 20, burst: 40, contentType: application/json, acceptContentTypes: application/json}
healthzBindAddress: 198.18.0.5:1234
metricsBindAddress: 0.0.0.0
ipvs: {syncPeriod: 1m, minSyncPeriod: 2s, strictARP: true, excludeCIDRs: [198.18.200.0/24], tcpTimeout: 1h, tcpFinTimeout: 1m, udpTimeout: 1m}
` + ownHeader + `drainTimeout: 0s
drainPollInterval: 1s
lameDuckDuration: 30s
dummyInterface: lb0
nodePortRange: 31000-31999
master: https://198.18.0.1:6443
dryRun: true
nodeIPs: [fd00::11]
serviceProxyName: other
`,
			mutate: func(v *daemonView) {
				v.Kubeconfig, v.QPS, v.Burst, v.ContentType, v.AcceptContentTypes = "/k", 20, 40, "application/json", "application/json"
				v.Healthz, v.Metrics = "198.18.0.5:1234", "0.0.0.0:10249"
				v.SyncPeriod, v.MinSyncPeriod, v.StrictARP, v.ExcludeCIDRs = time.Minute, 2*time.Second, true, prefixes("198.18.200.0/24")
				v.TCPTimeout, v.TCPFinTimeout, v.UDPTimeout = time.Hour, time.Minute, time.Minute
				v.DrainTimeout, v.DrainPollInterval, v.LameDuck, v.DummyInterface = 0, time.Second, 30*time.Second, "lb0"
				v.NodePortMin, v.NodePortMax, v.Master, v.DryRun = 31000, 31999, "https://198.18.0.1:6443", true
				v.NodeIPs, v.ServiceProxyName = addrs("fd00::11"), "other"
			}},
		{name: "flags override the file",
			config: header + "ipvs: {syncPeriod: 1m, strictARP: true}\nhealthzBindAddress: 198.18.0.5:1234\n" + ownHeader + "drainTimeout: 1m\ndryRun: true\n",
			args:   []string{"--ipvs-sync-period=2m", "--ipvs-strict-arp=false", "--healthz-bind-address=", "--drain-timeout=3s", "--dry-run=false"},
			mutate: func(v *daemonView) { v.SyncPeriod, v.Healthz, v.DrainTimeout = 2*time.Minute, "", 3*time.Second }},
		{name: "JSON file", config: `{"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration", "ipvs": {"syncPeriod": "1m"}}`,
			mutate: func(v *daemonView) { v.SyncPeriod = time.Minute }},
		{name: "own document first", config: ownHeader + "dummyInterface: lb0\n---\n" + header + "ipvs: {syncPeriod: 1m}\n",
			mutate: func(v *daemonView) { v.SyncPeriod, v.DummyInterface = time.Minute, "lb0" }},
		{name: "the file disables the servers", config: ownHeader + "disableHealthz: true\ndisableMetrics: true\n",
			mutate: func(v *daemonView) { v.Healthz, v.Metrics = "", "" }},
		{name: "a flag address enables a server the file disabled", config: ownHeader + "disableHealthz: true\n",
			args: []string{"--healthz-bind-address=0.0.0.0:10256"}, mutate: func(*daemonView) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := completeDaemon(t, configArgs(t, tc.file, tc.config, tc.args)...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			want := defaultView()
			tc.mutate(&want)
			if diff := cmp.Diff(want, viewOf(cfg), equateIPs); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if tc.file == "" && len(warnings) > 0 {
				t.Errorf("unexpected warnings %q", warnings)
			}
		})
	}
}

func TestDaemonErrors(t *testing.T) {
	tests := []struct {
		name    string
		config  string // configuration text
		args    []string
		wantErr string
	}{
		{name: "another proxy mode", args: []string{"--proxy-mode=iptables"}, wantErr: `unsupported proxy mode "iptables" (--proxy-mode or mode in --config): ipvs-proxy implements only "ipvs"`},
		{name: "another proxy mode in the file", config: header + "mode: nftables\n", wantErr: `unsupported proxy mode "nftables"`},
		{name: "zero sync period", args: []string{"--ipvs-sync-period=0"}, wantErr: "invalid --ipvs-sync-period (ipvs.syncPeriod) 0s: must be greater than 0"},
		{name: "negative sync period in the file", config: header + "ipvs: {syncPeriod: -1s}\n", wantErr: "invalid --ipvs-sync-period (ipvs.syncPeriod) -1s: must be greater than 0"},
		{name: "zero min sync period", args: []string{"--ipvs-min-sync-period=0"}, wantErr: "invalid --ipvs-min-sync-period (ipvs.minSyncPeriod) 0s: must be greater than 0"},
		{name: "min sync period above sync period", args: []string{"--ipvs-min-sync-period=1m"}, wantErr: "invalid --ipvs-min-sync-period (ipvs.minSyncPeriod) 1m0s: must not exceed --ipvs-sync-period (ipvs.syncPeriod) 30s"},
		{name: "negative TCP timeout", args: []string{"--ipvs-tcp-timeout=-1s"}, wantErr: "invalid --ipvs-tcp-timeout (ipvs.tcpTimeout) -1s: must not be negative"},
		{name: "negative TCP FIN timeout", args: []string{"--ipvs-tcpfin-timeout=-1s"}, wantErr: "invalid --ipvs-tcpfin-timeout (ipvs.tcpFinTimeout) -1s: must not be negative"},
		{name: "negative UDP timeout", config: header + "ipvs: {udpTimeout: -2s}\n", wantErr: "invalid --ipvs-udp-timeout (ipvs.udpTimeout) -2s: must not be negative"},
		{name: "bad exclude CIDR", args: []string{"--ipvs-exclude-cidrs=198.18.0.0/33"}, wantErr: `invalid --ipvs-exclude-cidrs (ipvs.excludeCIDRs) entry "198.18.0.0/33": want a CIDR`},
		{name: "healthz address without port or IP", args: []string{"--healthz-bind-address=localhost"}, wantErr: `invalid --healthz-bind-address (healthzBindAddress) "localhost": want IP:port`},
		{name: "healthz host name", args: []string{"--healthz-bind-address=localhost:10256"}, wantErr: `"localhost" is not an IP address`},
		{name: "metrics port out of range", args: []string{"--metrics-bind-address=127.0.0.1:70000"}, wantErr: `invalid --metrics-bind-address (metricsBindAddress) "127.0.0.1:70000": port must be 1-65535`},
		{name: "metrics port zero in the file", config: header + "metricsBindAddress: 127.0.0.1:0\n", wantErr: "port must be 1-65535"},
		{name: "negative QPS", args: []string{"--kube-api-qps=-1"}, wantErr: "invalid --kube-api-qps (clientConnection.qps) -1: must not be negative"},
		{name: "negative burst", args: []string{"--kube-api-burst=-1"}, wantErr: "invalid --kube-api-burst (clientConnection.burst) -1: must not be negative"},
		{name: "empty content type", args: []string{"--kube-api-content-type="}, wantErr: "invalid --kube-api-content-type (clientConnection.contentType): must not be empty"},
		{name: "negative drain timeout", args: []string{"--drain-timeout=-1s"}, wantErr: "invalid --drain-timeout (drainTimeout) -1s: must not be negative"},
		{name: "zero drain poll interval", args: []string{"--drain-poll-interval=0"}, wantErr: "invalid --drain-poll-interval (drainPollInterval) 0s: must be greater than 0"},
		{name: "zero drain poll interval in the file", config: ownHeader + "drainPollInterval: 0s\n", wantErr: "invalid --drain-poll-interval (drainPollInterval) 0s"},
		{name: "negative lame duck", args: []string{"--lame-duck-duration=-5s"}, wantErr: "invalid --lame-duck-duration (lameDuckDuration) -5s: must not be negative"},
		{name: "empty dummy interface", args: []string{"--dummy-interface="}, wantErr: `invalid --dummy-interface (dummyInterface) "": want 1 to 15 characters`},
		{name: "long dummy interface", args: []string{"--dummy-interface=kube-ipvs-dummy0"}, wantErr: "want 1 to 15 characters"},
		{name: "dummy interface with a slash", args: []string{"--dummy-interface=kube/ipvs"}, wantErr: "not a valid interface name"},
		{name: "NodePort range reversed", args: []string{"--nodeport-range=32767-30000"}, wantErr: `invalid --nodeport-range (nodePortRange) "32767-30000": LOW is above HIGH`},
		{name: "NodePort range not numbers", args: []string{"--nodeport-range=30000-"}, wantErr: "want LOW-HIGH with ports 1-65535"},
		{name: "NodePort range port 0", args: []string{"--nodeport-range=0-100"}, wantErr: "want LOW-HIGH with ports 1-65535"},
		{name: "NodePort range above 65535", args: []string{"--nodeport-range=30000-70000"}, wantErr: "want LOW-HIGH with ports 1-65535"},
		{name: "cleanup and init-only", args: []string{"--cleanup", "--init-only"}, wantErr: "--cleanup or --cleanup-kube-proxy and --init-only cannot be combined"},
		{name: "cleanup-kube-proxy and init-only", args: []string{"--cleanup-kube-proxy", "--init-only"}, wantErr: "and --init-only cannot be combined"},
		{name: "dry-run and cleanup", args: []string{"--cleanup", "--dry-run"}, wantErr: "--dry-run cannot be combined with --cleanup, --cleanup-kube-proxy or --init-only"},
		{name: "dry-run and cleanup-kube-proxy", args: []string{"--cleanup-kube-proxy", "--dry-run"}, wantErr: "--dry-run cannot be combined"},
		{name: "relative sysctl root", args: []string{"--sysctl-root=host/proc/sys"}, wantErr: `invalid --sysctl-root (sysctlRoot) "host/proc/sys": want an absolute path`},
		{name: "relative sysctl root in the file", config: ownHeader + "sysctlRoot: proc\n", wantErr: "invalid --sysctl-root (sysctlRoot)"},
		{name: "dry-run from the file and init-only", config: ownHeader + "dryRun: true\n", args: []string{"--init-only"}, wantErr: "--dry-run cannot be combined"},
		{name: "own document of another version", config: "apiVersion: ipvs-proxy.io/v2\nkind: IPVSProxyConfiguration\n", wantErr: `IPVSProxyConfiguration: apiVersion "ipvs-proxy.io/v2" is not supported: want ipvs-proxy.io/v1alpha1`},
		{name: "own document with a wrong type", config: ownHeader + "drainTimeout: soon\n", wantErr: "IPVSProxyConfiguration: "},
		{name: "two KubeProxyConfiguration documents", config: header + "---\n" + header, wantErr: "more than one KubeProxyConfiguration document"},
		{name: "two own documents", config: ownHeader + ownHeader, wantErr: "more than one IPVSProxyConfiguration document"},
		{name: "empty file", config: "# nothing\n", wantErr: "not a KubeProxyConfiguration"},
		{name: "every error at once", args: []string{"--ipvs-tcp-timeout=-1s", "--drain-poll-interval=0"}, wantErr: "must not be negative\ninvalid --drain-poll-interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := completeDaemon(t, configArgs(t, "", tc.config, tc.args)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
			}
			if cfg != nil {
				t.Errorf("Complete returned a config with an error: %+v", cfg)
			}
		})
	}
}

func TestDaemonWarnings(t *testing.T) {
	tests := []struct {
		name   string
		file   string // configuration file path
		config string // or configuration text
		args   []string
		want   []string
	}{
		{name: "kubeadm config.conf holds only fields the daemon uses", file: "testdata/kubeadm-config.conf"},
		{
			name: "kube-proxy's defaults: one warning per field the daemon does not use",
			file: "testdata/kube-proxy-defaults.conf",
			want: []string{
				"config: field logging.flushFrequency is not supported; ignored",
				"config: field iptables.localhostNodePorts is not supported; ignored",
				"config: field iptables.syncPeriod is not supported; ignored",
				"config: field iptables.minSyncPeriod is not supported; ignored",
				"config: field nftables.masqueradeBit is not supported; ignored",
				"config: field nftables.syncPeriod is not supported; ignored",
				"config: field nftables.minSyncPeriod is not supported; ignored",
				"config: field oomScoreAdj is not supported; ignored",
				"config: field configSyncPeriod is not supported; ignored",
			},
		},
		{
			name: "kube-proxy flags that mean nothing here",
			args: []string{"--config-sync-period=1m", "--oom-score-adj=-998", "--iptables-masquerade-bit=13", "--iptables-sync-period=1s",
				"--iptables-min-sync-period=1s", "--iptables-localhost-nodeports=false", "--pod-bridge-interface=cbr0",
				"--pod-interface-name-prefix=veth", "--bind-address-hard-fail", "--show-hidden-metrics-for-version=1.36"},
			want: []string{
				"flag --config-sync-period is ignored: ipvs-proxy's informers never resync periodically; the periodic full sync repairs the kernel instead",
				"flag --oom-score-adj is ignored: ipvs-proxy does not change its OOM score; use the pod's priority and resources",
				"flag --iptables-sync-period is ignored: it configures kube-proxy's iptables mode",
				"flag --iptables-min-sync-period is ignored: it configures kube-proxy's iptables mode",
				"flag --iptables-localhost-nodeports is ignored: it configures kube-proxy's iptables mode",
				"flag --bind-address-hard-fail is ignored: failing to open the health or metrics server is always fatal",
				"flag --show-hidden-metrics-for-version is ignored: ipvs-proxy hides no metrics",
				// Implemented, but only used with an interface detect-local mode.
				"config: --iptables-masquerade-bit (iptables.masqueradeBit) 13 is ignored: only detect-local-mode BridgeInterface and InterfaceNamePrefix use a mark",
				`config: --pod-bridge-interface (detectLocal.bridgeInterface) "cbr0" is ignored: detect-local-mode is ClusterCIDR`,
				`config: --pod-interface-name-prefix (detectLocal.interfaceNamePrefix) "veth" is ignored: detect-local-mode is ClusterCIDR`,
			},
		},
		{
			name:   "unknown field of the own document",
			config: ownHeader + "drainTimout: 5s\n",
			want:   []string{`config: IPVSProxyConfiguration: unknown field "drainTimout"; ignored`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, warnings, err := completeDaemon(t, configArgs(t, tc.file, tc.config, tc.args)...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tc.want, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDaemonFlagSetTakesKlogFlags checks that the daemon can add klog's
// flags (-v) to the same flag set without a clash.
func TestDaemonFlagSetTakesKlogFlags(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.AddGoFlagSet(klogFlags)
	if err := fs.Parse([]string{"-v=4", "--proxy-mode=ipvs"}); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := fs.Lookup("v").Value.String(); got != "4" {
		t.Errorf("-v = %s, want 4", got)
	}
	if _, _, err := o.Complete(fs); err != nil {
		t.Errorf("Complete: %v", err)
	}
	klogFlags.Lookup("v").Value.Set("0") //nolint:errcheck // restore klog's global verbosity
}

// TestPlanTakesTheDaemonFlagSet: plan registers exactly the daemon's flags,
// so that any command line the daemon takes can be previewed.
func TestPlanTakesTheDaemonFlagSet(t *testing.T) {
	names := func(add func(*Options, *pflag.FlagSet)) []string {
		var o Options
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		add(&o, fs)
		var out []string
		fs.VisitAll(func(f *pflag.Flag) { out = append(out, f.Name) })
		return out
	}
	plan, daemon := names((*Options).AddFlags), names((*Options).AddDaemonFlags)
	if diff := cmp.Diff(daemon, plan); diff != "" {
		t.Errorf("plan's flags differ from the daemon's (-daemon +plan):\n%s", diff)
	}
}
