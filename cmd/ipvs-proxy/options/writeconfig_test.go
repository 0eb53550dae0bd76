package options

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/component-base/featuregate"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// roundTripCases are command lines whose effective configuration
// --write-config-to must preserve.
var roundTripCases = []struct {
	name string
	file string // configuration file path
	args []string
}{
	{name: "defaults"},
	{name: "kubeadm config.conf with the usual flags", file: "testdata/kubeadm-config.conf",
		args: []string{"--hostname-override=node-a"}},
	{name: "kube-proxy defaults file", file: "testdata/kube-proxy-defaults.conf"},
	{name: "everything set", args: []string{
		"--hostname-override=node-a", "--bind-address=198.18.128.11", "--ipvs-scheduler=wrr", "--masquerade-all",
		"--cluster-cidr=198.19.0.0/16,fd00:10:244::/56", "--detect-local-mode=ClusterCIDR", "--nodeport-addresses=primary",
		"--node-ip=198.18.128.11,fd00:10::11", "--service-proxy-name=ipvs-proxy",
		"--feature-gates=NotReadyDrain=false,ServiceSchedulerAnnotations=false",
		"--kubeconfig=/etc/kube/proxy.conf", "--master=https://198.18.0.1:6443", "--kube-api-content-type=application/json",
		"--kube-api-qps=50", "--kube-api-burst=100", "--healthz-bind-address=198.18.128.11:10256", "--metrics-bind-address=0.0.0.0:10249",
		"--proxy-mode=ipvs", "--ipvs-sync-period=1m", "--ipvs-min-sync-period=2s", "--ipvs-strict-arp",
		"--ipvs-exclude-cidrs=198.18.200.0/24", "--ipvs-tcp-timeout=15m", "--ipvs-tcpfin-timeout=1m", "--ipvs-udp-timeout=30s",
		"--dummy-interface=ipvs0", "--nodeport-range=20000-20999", "--drain-timeout=0", "--drain-poll-interval=1s",
		"--lame-duck-duration=0", "--sysctl-root=/host/proc/sys", "--dry-run",
	}},
	{name: "servers disabled", args: []string{"--healthz-bind-address=", "--metrics-bind-address="}},
	{name: "IPv6 servers", args: []string{"--bind-address=fd00:10::11"}},
}

// TestWriteConfigRoundTrip writes each effective configuration and reads
// it back with --config alone: the configuration is the same and reading
// warns about nothing.
func TestWriteConfigRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			want, _, err := completeDaemon(t, configArgs(t, tc.file, "", tc.args)...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			path := filepath.Join(t.TempDir(), "written.yaml")
			if err := WriteConfig(want, path); err != nil {
				t.Fatalf("WriteConfig: %v", err)
			}
			got, warnings, err := completeDaemon(t, "--config", path)
			if err != nil {
				t.Fatalf("Complete with the written file: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("reading the written file warned: %q", warnings)
			}
			// Where the configuration was read from differs by nature.
			fromFile := cmpopts.IgnoreFields(Config{}, "ConfigFile", "ConfigSum")
			if diff := cmp.Diff(want, got, equateIPs, equateGates, fromFile, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("read back (-written +read):\n%s", diff)
			}
		})
	}
}

// equateGates compares feature gate registries by the gates' values.
var equateGates = cmp.Comparer(func(a, b featuregate.FeatureGate) bool {
	for name := range FeatureGates {
		if a.Enabled(name) != b.Enabled(name) {
			return false
		}
	}
	return true
})

// TestWriteConfigGolden shows what --write-config-to writes.
func TestWriteConfigGolden(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := completeDaemon(t, configArgs(t, tc.file, "", tc.args)...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			got, err := MarshalConfig(cfg)
			if err != nil {
				t.Fatalf("MarshalConfig: %v", err)
			}
			golden := filepath.Join("testdata", t.Name()+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("MarshalConfig (-%s +got):\n%s", golden, diff)
			}
		})
	}
}

func TestWriteConfigError(t *testing.T) {
	cfg, _, err := completeDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	err = WriteConfig(cfg, filepath.Join(t.TempDir(), "missing", "dir", "config.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "write config: ") {
		t.Errorf("WriteConfig into a missing directory: error %v, want a write config error", err)
	}
}

// TestUnsupportedFieldsCleared checks that Config.KubeProxy holds only the
// fields the command uses, so the daemon cannot act on one it warned about.
func TestUnsupportedFieldsCleared(t *testing.T) {
	cfg, _, err := completeDaemon(t, "--config", "testdata/kube-proxy-defaults.conf")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range SetFields(&cfg.KubeProxy) {
		if !isSupported(p, DaemonFields) {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		t.Errorf("Config.KubeProxy keeps unsupported fields %q", left)
	}
	if cfg.KubeProxy.OOMScoreAdj != nil || cfg.KubeProxy.ConfigSyncPeriod.Duration != 0 {
		t.Errorf("oomScoreAdj = %v, configSyncPeriod = %v; want both cleared",
			cfg.KubeProxy.OOMScoreAdj, cfg.KubeProxy.ConfigSyncPeriod)
	}
}
