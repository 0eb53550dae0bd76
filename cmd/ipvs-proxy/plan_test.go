package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	clusterYAML     = "../../test/testdata/cluster.yaml"
	kubeProxyConfig = "../../test/testdata/kube-proxy-config.yaml"
	// kubeadmConfig is kubeadm's whole config.conf, every field written.
	kubeadmConfig = "options/testdata/kubeadm-config.conf"
)

// result is what one in-process run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs ipvs-proxy in-process with args and stdin.
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, streams{in: strings.NewReader(stdin), out: &out, err: &errOut})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// checkGolden compares got with testdata/<test name>/<file>, or rewrites it
// with -update.
func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name()), file)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/ipvs-proxy -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); rerun with -update if intended:\n%s", path, diff)
	}
}

// TestPlanGolden runs `ipvs-proxy plan` on the committed cluster dump for
// each node and compares stdout and stderr with golden files. The
// configuration cases take the daemon's command line and file as they are:
// what only changes the running daemon is listed once on stderr.
func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		noNodes bool // give the dump without its Nodes, on stdin
	}{
		{name: "node-a", args: []string{"--hostname-override", "node-a"}},
		{name: "node-b", args: []string{"--hostname-override", "node-b"}},
		{name: "node-c", args: []string{"--hostname-override", "node-c"}},
		// nodePortAddresses names only IPv4: node-b's IPv6 address gets
		// node ports too (31080, 31443), as in the daemon.
		{name: "node-b-config", args: []string{"--config", kubeProxyConfig, "--masquerade-all"}},
		{name: "kubeadm-config", args: []string{"--config", kubeadmConfig, "--hostname-override", "node-a"}},
		// A kube-proxy command line: stdout is node-a's.
		{name: "strict-arp", args: []string{"--hostname-override", "node-a", "--ipvs-strict-arp", "--ipvs-sync-period=10s",
			"--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf", "--conntrack-min=0", "--v=0"}},
		{name: "node-c-without-ipv6", args: []string{"--hostname-override", "node-c", "--host-ipv6=false"}},
		// Node ports on the node IP of each family only, not on the
		// host's other address 198.18.129.12.
		{name: "nodeport-primary", args: []string{"--hostname-override", "node-b", "--nodeport-addresses=primary",
			"--node-ip=198.18.128.12,198.18.129.12,fd00:10:0:128::12"}},
		{name: "service-proxy-name", args: []string{"--hostname-override", "node-a", "--service-proxy-name", "ipvs-proxy"}},
		{name: "node-ip-without-node", args: []string{"--hostname-override", "node-d", "--node-ip", "198.18.128.14"}, noNodes: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"plan", "-f", clusterYAML}, tc.args...)
			stdin := ""
			if tc.noNodes {
				args = append([]string{"plan", "-f", "-"}, tc.args...)
				stdin = withoutNodes(t, readFile(t, clusterYAML))
			}
			r := runCmd(t, stdin, args...)
			if r.code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
			}
			checkGolden(t, "stdout.golden", r.stdout)
			checkGolden(t, "stderr.golden", r.stderr)
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutNodes cuts the Node items off the end of the dump (kubectl prints
// them last).
func withoutNodes(t *testing.T, s string) string {
	t.Helper()
	i := strings.Index(s, "\n- apiVersion: v1\n  kind: Node\n")
	j := strings.Index(s, "\nkind: List\n")
	if i < 0 || j < i {
		t.Fatal("cluster dump has no Node items at its end")
	}
	return s[:i+1] + s[j+1:]
}

// TestPlanSemantics checks, line by line, the rules the cluster dump was
// written to exercise, so that the golden files are known to be right and
// not only stable.
func TestPlanSemantics(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // lines that must be in stdout
		notWant []string // substrings that must not be in stdout
	}{
		{
			name: "node-a",
			args: []string{"--hostname-override", "node-a"},
			want: []string{
				"-A -u 198.18.0.10:53 -s rr",                            // kube-dns over UDP
				"-A -t 198.18.40.11:80 -s rr -p 600",                    // ClientIP affinity
				"-A -t 198.18.40.12:8080 -s rr -p 10800",                // ClientIP affinity, default timeout
				"-A -t 198.18.40.14:443 -s sh -b sh-fallback",           // scheduler annotation
				"-A -t 198.18.40.15:80 -s mh -b mh-fallback,mh-port",    // kube-router annotations
				"-A -t 198.18.40.16:80 -s rr",                           // invalid annotation: default
				"-a -t 198.18.40.17:80 -r 198.19.3.16:8080 -m -w 0",     // terminating, serving
				"-a -t 198.18.40.17:80 -r 198.19.1.20:8080 -m -w 0",     // terminating, not serving
				"-a -t 198.18.40.18:80 -r 198.19.1.21:8080 -m -w 1",     // only terminating: serving fallback
				"-a -t 198.18.40.18:80 -r 198.19.3.18:8080 -m -w 0",     // ... but not the non-serving one
				"-A --sctp-service 198.18.60.10:3868 -s rr",             // SCTP
				"-a -t 198.18.200.10:80 -r 198.19.1.11:80 -m -w 1",      // eTP Local LB: local endpoint
				"-a -t 198.18.128.11:30007 -r 198.19.3.11:8080 -m -w 1", // eTP Cluster NodePort: all
				"-A -t [fd00:10:0:128::11]:31080 -s rr",                 // IPv6 NodePort
				"-A -t 198.18.201.5:8443 -s rr",                         // externalIPs
				"-A -t [fd00:10:200::20]:443 -s rr",                     // IPv6 LoadBalancer ingress
				"-a -t 198.18.40.22:5432 -r 198.18.220.5:5432 -m -w 1",  // manual slice
				"-a -t 198.18.40.19:80 -r 198.19.1.22:8080 -m -w 1",     // iTP Local: local endpoint
				"-a -t 198.18.40.20:80 -r 198.19.1.23:8080 -m -w 1",     // zone hint for zone-a
				"-a -t 198.18.40.21:80 -r 198.19.1.25:8080 -m -w 1",     // node hint for node-a
				"port load-balancer tcp 198.18.200.20:80 source-ranges 198.18.224.0/20",
			},
			notWant: []string{
				"198.18.200.30", // ipMode Proxy
				"198.18.50.10",  // another proxy's service
				"198.18.0.300",  // invalid clusterIP
				"198.19.3.17",   // not ready, not terminating
				"198.19.2.21",   // iTP Local: node-b's endpoint
				"198.19.2.22",   // zone hint for zone-b
				"198.19.2.23",   // node hint for node-b
				"-a -t 198.18.200.10:80 -r 198.19.2.11:80", // eTP Local: node-b's endpoint on the LB
				"198.18.250.12", // node-b's ExternalIP is not a node address
				":70000",        // port out of range
			},
		},
		{
			name: "node-c has no local ingress pod",
			args: []string{"--hostname-override", "node-c"},
			want: []string{
				// eTP Local without local endpoints: the cluster's endpoints
				// (kube-proxy's IPVS mode, kubernetes#97081), and new
				// connections from outside the cluster dropped.
				"-a -t 198.18.200.10:80 -r 198.19.1.11:80 -m -w 1",
				"-a -t 198.18.128.13:30080 -r 198.19.2.11:80 -m -w 1",
				"port node-port tcp 198.18.128.13:30080 local no-local-endpoints",
				"-A -t 198.18.40.19:80 -s rr",                           // iTP Local without local endpoints: none
				"-a -t 198.18.40.21:80 -r 198.19.2.23:8080 -m -w 1",     // no node hint for node-c: all
				"-a -u 198.18.128.13:30514 -r 198.19.3.23:5514 -m -w 1", // eTP Local, only local endpoint terminating: fallback
			},
			notWant: []string{"-a -t 198.18.40.19:80 -r", "port node-port udp 198.18.128.13:30514 local no-local-endpoints"},
		},
		{
			// kube-proxy runs dual-stack on any host with IPv6, whatever the
			// Node lists (server_linux.go, platformCheckSupported).
			name:    "node-c lists no IPv6 address but proxies IPv6",
			args:    []string{"--hostname-override", "node-c"},
			want:    []string{"-A -t [fd00:10:96::4013]:80 -s rr", "-A -t [fd00:10:200::20]:80 -s rr", "fd00:10:96::4013"},
			notWant: []string{"]:31080 -s", "[fd00:10:0:128::"}, // no IPv6 address, no IPv6 node ports
		},
		{
			name:    "node-c on a host without IPv6 proxies IPv4 only",
			args:    []string{"--hostname-override", "node-c", "--host-ipv6=false"},
			want:    []string{"-A -t 198.18.40.10:80 -s rr"},
			notWant: []string{"fd00:"},
		},
		{
			// kube-proxy: NewNodePortAddresses adds ::/0 for a family the
			// list does not name (pkg/proxy/util/nodeport_addresses.go).
			name: "nodeport-addresses naming IPv4 only leaves IPv6 unrestricted",
			args: []string{"--config", kubeProxyConfig},
			want: []string{"-A -t 198.18.128.12:31080 -s wrr", "-A -t [fd00:10:0:128::12]:31080 -s wrr"},
		},
		{
			name:    "nodeport-addresses localhost: no node ports, IPVS never serves loopback",
			args:    []string{"--hostname-override", "node-a", "--nodeport-addresses=localhost"},
			want:    []string{"-A -t 198.18.40.10:80 -s rr"},
			notWant: []string{"-A -t 198.18.128.11:", "-A -t [fd00:10:0:128::11]:"},
		},
		{
			name: "nodeport-addresses primary: the node IP of each family",
			args: []string{"--hostname-override", "node-b", "--nodeport-addresses=primary",
				"--node-ip=198.18.128.12,198.18.129.12,fd00:10:0:128::12"},
			want:    []string{"-A -t 198.18.128.12:31080 -s rr", "-A -t [fd00:10:0:128::12]:31080 -s rr"},
			notWant: []string{"-A -t 198.18.129.12:31080"},
		},
		{
			name: "nodeport-addresses all",
			args: []string{"--hostname-override", "node-a", "--nodeport-addresses=all"},
			want: []string{"-A -t 198.18.128.11:30007 -s rr", "-A -t [fd00:10:0:128::11]:31080 -s rr"},
		},
		{
			name:    "dummy-interface names the interface bound",
			args:    []string{"--hostname-override", "node-a", "--dummy-interface=ipvs0"},
			want:    []string{"# addresses ipvs0"},
			notWant: []string{"kube-ipvs0"},
		},
		{
			name:    "service-proxy-name selects exactly the labelled services",
			args:    []string{"--hostname-override", "node-a", "--service-proxy-name", "ipvs-proxy"},
			want:    []string{"-A -t 198.18.50.10:80 -s rr"},
			notWant: []string{"198.18.40.10"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", append([]string{"plan", "-f", clusterYAML}, tc.args...)...)
			if r.code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("stdout lacks line %q", w)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(r.stdout, nw) {
					t.Errorf("stdout contains %q", nw)
				}
			}
		})
	}
}
