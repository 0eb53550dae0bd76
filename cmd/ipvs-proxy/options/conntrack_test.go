package options

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// kubeProxyConntrack is kube-proxy's conntrack configuration when nothing
// sets it, mutated.
func kubeProxyConntrack(mutate ...func(*sysctl.Conntrack)) sysctl.Conntrack {
	c := sysctl.Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}
	for _, m := range mutate {
		m(&c)
	}
	return c
}

// TestConntrackConfig: the conntrack section of the file and the
// --conntrack-* flags, with kube-proxy's defaults for what is null or
// absent and 0 kept as "leave it as-is". No warning: they are used.
func TestConntrackConfig(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		config string
		args   []string
		want   sysctl.Conntrack
	}{
		{name: "no file, no flags", want: kubeProxyConntrack()},
		{name: "kubeadm's config.conf: every field null", file: "testdata/kubeadm-config.conf", want: kubeProxyConntrack()},
		{name: "kube-proxy's defaults written out", file: "testdata/kube-proxy-defaults.conf", want: kubeProxyConntrack()},
		{name: "file values", config: header + "conntrack:\n  maxPerCore: 0\n  min: 5\n  tcpEstablishedTimeout: 0s\n  tcpBeLiberal: true\n  udpTimeout: 30s\n  udpStreamTimeout: 2m\n",
			want: kubeProxyConntrack(func(c *sysctl.Conntrack) {
				c.MaxPerCore, c.Min, c.TCPEstablishedTimeout = 0, 5, 0
				c.TCPBeLiberal, c.UDPTimeout, c.UDPStreamTimeout = true, 30*time.Second, 2*time.Minute
			})},
		{name: "flags over the file", config: header + "conntrack:\n  maxPerCore: 0\n  tcpCloseWaitTimeout: 5m\n",
			args: []string{"--conntrack-max-per-core=65536", "--conntrack-min=1", "--conntrack-tcp-timeout-established=2h",
				"--conntrack-tcp-timeout-close-wait=0", "--conntrack-tcp-be-liberal", "--conntrack-udp-timeout=10s", "--conntrack-udp-timeout-stream=1m"},
			want: sysctl.Conntrack{MaxPerCore: 65536, Min: 1, TCPEstablishedTimeout: 2 * time.Hour, TCPBeLiberal: true,
				UDPTimeout: 10 * time.Second, UDPStreamTimeout: time.Minute}},
		{name: "flags not given keep the file's", config: header + "conntrack:\n  min: 7\n", args: []string{"--conntrack-tcp-be-liberal"},
			want: kubeProxyConntrack(func(c *sysctl.Conntrack) { c.Min, c.TCPBeLiberal = 7, true })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := completeDaemon(t, configArgs(t, tc.file, tc.config, tc.args)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				if strings.Contains(w, "conntrack") {
					t.Errorf("warning about a conntrack setting: %s", w)
				}
			}
			if diff := cmp.Diff(tc.want, cfg.Conntrack()); diff != "" {
				t.Errorf("Conntrack() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConntrackErrors: negative values are refused, as kube-proxy's
// validation refuses them.
func TestConntrackErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		args         []string
		wantErr      string
	}{
		{name: "negative max per core", args: []string{"--conntrack-max-per-core=-1"},
			wantErr: "invalid --conntrack-max-per-core (conntrack.maxPerCore) -1: must be greater than or equal to 0"},
		{name: "negative min in the file", config: header + "conntrack: {min: -5}\n",
			wantErr: "invalid --conntrack-min (conntrack.min) -5: must be greater than or equal to 0"},
		{name: "negative established timeout", args: []string{"--conntrack-tcp-timeout-established=-1s"},
			wantErr: "invalid --conntrack-tcp-timeout-established (conntrack.tcpEstablishedTimeout) -1s: must not be negative"},
		{name: "negative close-wait timeout in the file", config: header + "conntrack: {tcpCloseWaitTimeout: -1m}\n",
			wantErr: "invalid --conntrack-tcp-timeout-close-wait (conntrack.tcpCloseWaitTimeout) -1m0s: must not be negative"},
		{name: "negative UDP timeouts", args: []string{"--conntrack-udp-timeout=-1s", "--conntrack-udp-timeout-stream=-2s"},
			wantErr: "invalid --conntrack-udp-timeout (conntrack.udpTimeout) -1s: must not be negative\ninvalid --conntrack-udp-timeout-stream (conntrack.udpStreamTimeout) -2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := completeDaemon(t, configArgs(t, "", tc.config, tc.args)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
