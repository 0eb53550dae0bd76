package options

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// equateIPs compares netip values by ==.
var equateIPs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// complete parses args as a command line and completes the options.
func complete(t *testing.T, args ...string) (*Config, []string, error) {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return o.Complete(fs)
}

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configArgs prepends --config for a file path or inline text to args.
func configArgs(t *testing.T, file, text string, args []string) []string {
	t.Helper()
	if text != "" {
		file = writeConfig(t, text)
	}
	if file == "" {
		return args
	}
	return append([]string{"--config", file}, args...)
}

const (
	header    = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
	ownConfig = "apiVersion: ipvs-proxy.io/v1alpha1\nkind: IPVSProxyConfiguration\n"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestCompleteProxierConfig(t *testing.T) {
	fileCfg := header + `
ipvs: {scheduler: wrr}
iptables: {masqueradeAll: true}
clusterCIDR: 198.19.0.0/16
hostnameOverride: " Node-A "
`
	tests := []struct {
		name     string
		file     string // config file text; "" for none
		args     []string
		want     proxier.Config
		wantHost string
	}{
		{name: "defaults", want: proxier.Config{}},
		{
			name: "flags only",
			args: []string{"--ipvs-scheduler=sh", "--masquerade-all", "--cluster-cidr=198.19.0.0/16, fd00:10:244::/56",
				"--service-proxy-name=ipvs-proxy", "--hostname-override=node-b"},
			want: proxier.Config{Scheduler: "sh", MasqueradeAll: true,
				LocalCIDRs: prefixes("198.19.0.0/16", "fd00:10:244::/56"), ServiceProxyName: "ipvs-proxy"},
			wantHost: "node-b",
		},
		{
			name:     "file only",
			file:     fileCfg,
			want:     proxier.Config{Scheduler: "wrr", MasqueradeAll: true, LocalCIDRs: prefixes("198.19.0.0/16")},
			wantHost: "node-a",
		},
		{
			name:     "flags given override the file",
			file:     fileCfg,
			args:     []string{"--ipvs-scheduler=lc", "--masquerade-all=false", "--hostname-override=node-c"},
			want:     proxier.Config{Scheduler: "lc", LocalCIDRs: prefixes("198.19.0.0/16")},
			wantHost: "node-c",
		},
		{
			name: "own document: service proxy name",
			file: ownConfig + "serviceProxyName: ipvs-proxy\n",
			want: proxier.Config{ServiceProxyName: "ipvs-proxy"},
		},
		{
			name: "cluster CIDR is masked",
			args: []string{"--cluster-cidr=198.19.1.7/16"},
			want: proxier.Config{LocalCIDRs: prefixes("198.19.0.0/16")},
		},
		{
			// kube-proxy's getLocalDetectors: NodeCIDR ignores the cluster CIDR.
			name: "NodeCIDR takes the node's pod CIDRs, not the cluster CIDR",
			args: []string{"--cluster-cidr=198.19.0.0/16", "--detect-local-mode=NodeCIDR"},
			want: proxier.Config{LocalFromNodePodCIDRs: true},
		},
		{
			// kube-proxy's getLocalDetectors: one detector, by interface.
			name: "BridgeInterface by flags: the bridge, kube-proxy's default mark, no CIDR",
			args: []string{"--cluster-cidr=198.19.0.0/16", "--detect-local-mode=BridgeInterface", "--pod-bridge-interface=cni0"},
			want: proxier.Config{LocalInterface: model.LocalInterface{Name: "cni0"}, MasqueradeMark: 0x4000},
		},
		{
			name: "InterfaceNamePrefix by flags, with a masquerade bit",
			args: []string{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=cali", "--iptables-masquerade-bit=3"},
			want: proxier.Config{LocalInterface: model.LocalInterface{Name: "cali", Prefix: true}, MasqueradeMark: 0x8},
		},
		{
			name: "BridgeInterface by the file",
			file: header + "detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: br-pods}\niptables: {masqueradeBit: 31}\n",
			want: proxier.Config{LocalInterface: model.LocalInterface{Name: "br-pods"}, MasqueradeMark: 1 << 31},
		},
		{
			name: "InterfaceNamePrefix by the file, masqueradeBit null as kubeadm writes it",
			file: header + "detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: veth}\niptables: {masqueradeBit: null}\n",
			want: proxier.Config{LocalInterface: model.LocalInterface{Name: "veth", Prefix: true}, MasqueradeMark: 0x4000},
		},
		{
			name: "flags override the file's mode and interface",
			file: header + "detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: br-pods}\n",
			args: []string{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth"},
			want: proxier.Config{LocalInterface: model.LocalInterface{Name: "veth", Prefix: true}, MasqueradeMark: 0x4000},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			cfg, _, err := complete(t, args...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tc.want, cfg.Proxier(), equateIPs); diff != "" {
				t.Errorf("Proxier() (-want +got):\n%s", diff)
			}
			if got := cfg.HostnameOverride(); got != tc.wantHost {
				t.Errorf("HostnameOverride() = %q, want %q", got, tc.wantHost)
			}
		})
	}
}

// TestCompleteWarnings: plan accepts the daemon's fields and flags; those
// that only change the running daemon are listed by RuntimeOnly, and only
// what the daemon does not use either gets a warning.
func TestCompleteWarnings(t *testing.T) {
	tests := []struct {
		name        string
		file        string // configuration file path
		config      string // or configuration text
		args        []string
		want        []string
		wantRuntime []string
	}{
		{name: "no config, no warnings"},
		{
			name:        "kubeadm config.conf: only the kubeconfig path plan does not need",
			file:        "testdata/kubeadm-config.conf",
			wantRuntime: []string{"clientConnection.kubeconfig"},
		},
		{
			name:   "daemon fields are runtime-only, gates not ours are warned about",
			config: header + "ipvs:\n  strictARP: true\n  excludeCIDRs: [198.18.0.0/24]\n  scheduler: rr\nfeatureGates: {A: true, B: false}\n",
			want: []string{
				"config: feature gate A is not one of ipvs-proxy's (AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations); ignored",
				"config: feature gate B is not one of ipvs-proxy's (AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations); ignored",
			},
			wantRuntime: []string{"ipvs.excludeCIDRs", "ipvs.strictARP"},
		},
		{
			name:        "own document: the fields plan does not use",
			config:      ownConfig + "serviceProxyName: ipvs-proxy\nnodeIPs: [198.18.128.11]\ndummyInterface: ipvs0\ndrainTimeout: 1s\ndryRun: true\n",
			wantRuntime: []string{"IPVSProxyConfiguration.drainTimeout", "IPVSProxyConfiguration.dryRun"},
		},
		{
			name:        "daemon flags are runtime-only, flags the daemon ignores too are warned about",
			args:        []string{"--ipvs-strict-arp", "--kubeconfig=/k", "--cleanup", "--dummy-interface=ipvs0", "--conntrack-min=1", "--oom-score-adj=-998"},
			want:        []string{"flag --oom-score-adj is ignored: ipvs-proxy does not change its OOM score; use the pod's priority and resources"},
			wantRuntime: []string{"--kubeconfig", "--ipvs-strict-arp", "--conntrack-min", "--cleanup"},
		},
		{
			name:   "unknown field",
			config: header + "ipvs:\n  shceduler: sh\n",
			want:   []string{`config: unknown field "ipvs.shceduler"; ignored`},
		},
		{
			name:   "another proxy mode",
			config: header + "mode: nftables\n",
			want:   []string{`config: mode "nftables" ignored: ipvs-proxy always programs IPVS`},
		},
		{
			name: "another proxy mode given as a flag",
			args: []string{"--proxy-mode=iptables"},
			want: []string{`config: mode "iptables" ignored: ipvs-proxy always programs IPVS`},
		},
		{
			name:   "a scheduler outside Linux's is warned about, not refused: the daemon checks the kernel",
			config: header + "ipvs: {scheduler: fastest}\n",
			want:   []string{`config: IPVS scheduler "fastest" is not one of Linux's (rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh, fo, ovf, twos); the daemon starts only if the node's kernel offers it`},
		},
		{name: "twos, fo and ovf are Linux's", args: []string{"--ipvs-scheduler=twos"}},
		{name: "BridgeInterface with its bridge: no warning", args: []string{"--detect-local-mode=BridgeInterface", "--pod-bridge-interface=cni0", "--iptables-masquerade-bit=13"}},
		{
			name: "an interface of another mode is ignored",
			args: []string{"--detect-local-mode=BridgeInterface", "--pod-bridge-interface=cni0", "--pod-interface-name-prefix=veth"},
			want: []string{`config: --pod-interface-name-prefix (detectLocal.interfaceNamePrefix) "veth" is ignored: detect-local-mode is BridgeInterface`},
		},
		{
			name:   "a bridge given with the default mode is ignored",
			config: header + "detectLocal: {bridgeInterface: cni0}\n",
			want:   []string{`config: --pod-bridge-interface (detectLocal.bridgeInterface) "cni0" is ignored: detect-local-mode is ClusterCIDR`},
		},
		{
			name: "a masquerade bit other than the default without an interface mode is ignored",
			args: []string{"--detect-local-mode=NodeCIDR", "--iptables-masquerade-bit=13"},
			want: []string{"config: --iptables-masquerade-bit (iptables.masqueradeBit) 13 is ignored: only detect-local-mode BridgeInterface and InterfaceNamePrefix use a mark"},
		},
		{name: "kube-proxy's defaults file sets bit 14: no warning", config: header + "iptables: {masqueradeBit: 14}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Options
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(configArgs(t, tc.file, tc.config, tc.args)); err != nil {
				t.Fatal(err)
			}
			_, warnings, err := o.Complete(fs)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tc.want, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRuntime, o.RuntimeOnly()); diff != "" {
				t.Errorf("RuntimeOnly (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompleteErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // configuration file path
		config  string // or configuration text
		args    []string
		wantErr string
	}{
		{name: "missing config file", args: []string{"--config=testdata/absent.yaml"}, wantErr: "read config: open testdata/absent.yaml: no such file"},
		{name: "config of another kind", config: "apiVersion: v1\nkind: ConfigMap\n", wantErr: "not a KubeProxyConfiguration"},
		{name: "config without kind", config: "ipvs: {scheduler: rr}\n", wantErr: "not a KubeProxyConfiguration"},
		{name: "config not YAML", config: header + "ipvs: [\n", wantErr: "config "},
		// Any scheduler name is accepted (the daemon checks the kernel at
		// start); one that cannot name a module is not.
		{name: "malformed scheduler", args: []string{"--ipvs-scheduler=Round Robin"}, wantErr: `invalid IPVS scheduler "Round Robin"`},
		{name: "malformed scheduler in file", config: header + "ipvs: {scheduler: ip_vs_rr.ko}\n", wantErr: `invalid IPVS scheduler "ip_vs_rr.ko"`},
		{name: "bad cluster CIDR", args: []string{"--cluster-cidr=198.19.0.0/33"}, wantErr: `invalid cluster CIDR "198.19.0.0/33"`},
		{name: "two CIDRs of one family", args: []string{"--cluster-cidr=198.19.0.0/16,198.18.0.0/16"}, wantErr: "at most one CIDR per IP family"},
		{name: "bad node IP", args: []string{"--node-ip=198.18.128.300"}, wantErr: `invalid node IP "198.18.128.300"`},
		{name: "bad bind address", args: []string{"--bind-address=node-a"}, wantErr: `invalid bind address "node-a"`},
		{name: "bad nodeport address", args: []string{"--nodeport-addresses=secondary"},
			wantErr: `invalid --nodeport-addresses (nodePortAddresses): "secondary" is neither a CIDR nor one of the keywords "primary", "localhost", "all"`},
		{name: "nodeport keyword twice", args: []string{"--nodeport-addresses=primary,primary"}, wantErr: `keyword "primary" given twice`},
		{name: "unknown detect-local-mode", args: []string{"--detect-local-mode=Magic"}, wantErr: `invalid detect-local-mode "Magic"`},
		// kube-proxy's validateDetectLocalConfiguration: the mode's interface must be set.
		{name: "BridgeInterface without a bridge", args: []string{"--detect-local-mode=BridgeInterface", "--pod-interface-name-prefix=veth"},
			wantErr: "invalid --pod-bridge-interface (detectLocal.bridgeInterface): must not be empty with detect-local-mode BridgeInterface"},
		{name: "InterfaceNamePrefix without a prefix", config: header + "detectLocalMode: InterfaceNamePrefix\ndetectLocal: {bridgeInterface: cni0}\n",
			wantErr: "invalid --pod-interface-name-prefix (detectLocal.interfaceNamePrefix): must not be empty with detect-local-mode InterfaceNamePrefix"},
		{name: "bridge name longer than an interface name", args: []string{"--detect-local-mode=BridgeInterface", "--pod-bridge-interface=a-very-long-bridge"},
			wantErr: `invalid --pod-bridge-interface (detectLocal.bridgeInterface) "a-very-long-bridge": longer than an interface name (15 bytes)`},
		// kube-proxy's validateKubeProxyIPTablesConfiguration: 0 to 31.
		{name: "masquerade bit too high", args: []string{"--iptables-masquerade-bit=32"}, wantErr: "invalid --iptables-masquerade-bit (iptables.masqueradeBit) 32: must be within the range [0, 31]"},
		{name: "masquerade bit negative in file", config: header + "iptables: {masqueradeBit: -1}\n", wantErr: "must be within the range [0, 31]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := configArgs(t, tc.file, tc.config, tc.args)
			cfg, _, err := complete(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
			}
			if cfg != nil {
				t.Errorf("Complete returned a config with an error: %+v", cfg)
			}
		})
	}
}

func TestSetFields(t *testing.T) {
	cfg, warnings, err := LoadFile("testdata/kubeadm-config.conf", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"clientConnection.kubeconfig", "bindAddress", "mode", "clusterCIDR"}
	if diff := cmp.Diff(want, SetFields(&cfg.KubeProxy)); diff != "" {
		t.Errorf("SetFields (-want +got):\n%s", diff)
	}
	if len(warnings) != len(want) {
		t.Errorf("with nothing supported, got warnings %q, want one per set field", warnings)
	}
}
