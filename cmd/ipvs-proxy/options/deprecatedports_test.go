package options

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPortFlags follows kube-proxy v1.37.2's --healthz-port and
// --metrics-port: cmd/kube-proxy/app/options.go applies them in Complete
// only without --config and --write-config-to, through
// addressFromDeprecatedFlags (port 0 disables the server, else
// proxyutil.AppendPortIfNeeded adds the port to a bind address that has
// none); the first cases are those of its TestAddressFromDeprecatedFlags.
func TestPortFlags(t *testing.T) {
	tests := []struct {
		name         string
		config       string
		args         []string
		wantHealthz  string
		wantMetrics  string
		wantWarnings []string
		wantErr      string
	}{
		{name: "IPv4 bind address", args: []string{"--healthz-bind-address=1.2.3.4", "--healthz-port=12345", "--metrics-bind-address=2.3.4.5", "--metrics-port=23456"},
			wantHealthz: "1.2.3.4:12345", wantMetrics: "2.3.4.5:23456"},
		{name: "IPv4 bind address has port", args: []string{"--healthz-bind-address=1.2.3.4:12345", "--healthz-port=23456", "--metrics-bind-address=2.3.4.5:12345", "--metrics-port=23456"},
			wantHealthz: "1.2.3.4:12345", wantMetrics: "2.3.4.5:12345",
			wantWarnings: []string{
				"flag --healthz-port=23456 is ignored: --healthz-bind-address has a port (default 0.0.0.0:10256), and kube-proxy keeps it",
				"flag --metrics-port=23456 is ignored: --metrics-bind-address has a port (default 127.0.0.1:10249), and kube-proxy keeps it",
			}},
		{name: "IPv6 bind address", args: []string{"--healthz-bind-address=fd00:1::5", "--healthz-port=12345", "--metrics-bind-address=fd00:1::6", "--metrics-port=23456"},
			wantHealthz: "[fd00:1::5]:12345", wantMetrics: "[fd00:1::6]:23456"},
		{name: "port 0 disables the server", args: []string{"--healthz-port=0", "--metrics-port=0"}, wantHealthz: "", wantMetrics: ""},
		{name: "port 0 disables a server with an address", args: []string{"--metrics-bind-address=0.0.0.0:10249", "--metrics-port=0"},
			wantHealthz: DefaultHealthzBindAddress, wantMetrics: ""},
		// kube-proxy's flag defaults carry a port, so the port flag alone
		// changes nothing there either.
		{name: "alone, a port flag keeps the default address", args: []string{"--metrics-port=10250"},
			wantHealthz: DefaultHealthzBindAddress, wantMetrics: DefaultMetricsBindAddress,
			wantWarnings: []string{"flag --metrics-port=10250 is ignored: --metrics-bind-address has a port (default 127.0.0.1:10249), and kube-proxy keeps it"}},
		{name: "a bare IP without the port flag gets the default port", args: []string{"--healthz-bind-address=1.2.3.4"},
			wantHealthz: "1.2.3.4:10256", wantMetrics: DefaultMetricsBindAddress},
		{name: "an empty bind address stays disabled", args: []string{"--healthz-bind-address=", "--healthz-port=10256"},
			wantHealthz: "", wantMetrics: DefaultMetricsBindAddress,
			wantWarnings: []string{"flag --healthz-port=10256 is ignored: an empty --healthz-bind-address disables the server"}},
		{name: "ignored with --config", config: header + "healthzBindAddress: 1.2.3.4\n", args: []string{"--healthz-port=0"},
			wantHealthz: "1.2.3.4:10256", wantMetrics: DefaultMetricsBindAddress,
			wantWarnings: []string{"flag --healthz-port is ignored with --config or --write-config-to, as in kube-proxy; use --healthz-bind-address"}},
		{name: "out of range", args: []string{"--healthz-port=65536"}, wantErr: "invalid --healthz-port 65536: want 0 (disabled) to 65535"},
		{name: "negative", args: []string{"--metrics-port=-1"}, wantErr: "invalid --metrics-port -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := completeDaemon(t, configArgs(t, "", tc.config, tc.args)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if cfg.KubeProxy.HealthzBindAddress != tc.wantHealthz || cfg.KubeProxy.MetricsBindAddress != tc.wantMetrics {
				t.Errorf("healthz, metrics = %q, %q; want %q, %q", cfg.KubeProxy.HealthzBindAddress, cfg.KubeProxy.MetricsBindAddress, tc.wantHealthz, tc.wantMetrics)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
