package main

import (
	"os"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRunExitCodes(t *testing.T) {
	oneService := "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n" +
		"spec: {clusterIP: 198.18.0.5, clusterIPs: [198.18.0.5], ports: [{port: 80, protocol: TCP}]}\n"
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{name: "daemon with another proxy mode", args: []string{"--proxy-mode=iptables"}, wantCode: exitUsage, wantStderr: "iptables"},
		{name: "daemon with an unknown flag", args: []string{"--turbo"}, wantCode: exitUsage, wantStderr: "unknown flag: --turbo"},
		{name: "daemon help lists kube-proxy's flags", args: []string{"--help"}, wantCode: exitOK, wantStdout: "--ipvs-min-sync-period"},
		{name: "help", args: []string{"help"}, wantCode: exitOK, wantStdout: "plan   print the IPVS state"},
		{name: "version", args: []string{"--version"}, wantCode: exitOK, wantStdout: "ipvs-proxy dev\n"},
		{name: "version raw", args: []string{"--version=raw"}, wantCode: exitOK, wantStdout: `version.Info{Major:"", Minor:"", GitVersion:"dev", GitCommit:`},
		{name: "version false runs the daemon", args: []string{"--version=false", "--proxy-mode=iptables"}, wantCode: exitUsage, wantStderr: "iptables"},
		{name: "version with a bad value", args: []string{"--version=maybe"}, wantCode: exitUsage, wantStderr: "want true, false or raw"},
		{name: "kube-proxy logging flags parse", args: []string{"--logging-format=text", "--log-flush-frequency=5s", "--version"}, wantCode: exitOK, wantStdout: "ipvs-proxy"},
		{name: "unknown command", args: []string{"apply"}, wantCode: exitUsage, wantStderr: `unknown command "apply"`},
		{name: "plan help", args: []string{"plan", "-h"}, wantCode: exitOK, wantStdout: "--hostname-override"},
		{name: "plan without -f", args: []string{"plan"}, wantCode: exitUsage, wantStderr: "no input: give at least one -f FILE"},
		{name: "plan with a bare argument", args: []string{"plan", "cluster.yaml"}, wantCode: exitUsage, wantStderr: `unexpected argument "cluster.yaml"`},
		{name: "plan with an unknown flag", args: []string{"plan", "-f", "x", "--proxy-modus=iptables"}, wantCode: exitUsage, wantStderr: "unknown flag: --proxy-modus"},
		{name: "plan with a bad flag value", args: []string{"plan", "-f", "x", "--masquerade-all=maybe"}, wantCode: exitUsage, wantStderr: "invalid argument"},
		{name: "unreadable file", args: []string{"plan", "-f", "testdata/absent.yaml", "--node-ip=198.18.128.1", "--hostname-override=n"},
			wantCode: exitFailure, wantStderr: "ipvs-proxy plan: stat testdata/absent.yaml: no such file or directory"},
		{name: "not YAML", args: []string{"plan", "-f", "-", "--node-ip=198.18.128.1", "--hostname-override=n"}, stdin: "a: [\n",
			wantCode: exitFailure, wantStderr: "ipvs-proxy plan: <stdin>: document 1:"},
		{name: "invalid flag value is checked after parsing", args: []string{"plan", "-f", "-", "--ipvs-scheduler=Fastest"},
			wantCode: exitFailure, wantStderr: `invalid IPVS scheduler "Fastest"`},
		{name: "no node", args: []string{"plan", "-f", "-"}, stdin: oneService,
			wantCode: exitFailure, wantStderr: "the input has no Node: name the node with --hostname-override"},
		{name: "stdin with node from flags", args: []string{"plan", "-f", "-", "--hostname-override=n", "--node-ip=198.18.128.1"},
			stdin: oneService, wantCode: exitOK, wantStdout: "-A -t 198.18.0.5:80 -s rr\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", r.code, tc.wantCode)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", r.stdout, tc.wantStdout)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tc.wantStderr)
			}
			if tc.wantCode != exitOK && r.stdout != "" && tc.wantStdout == "" {
				t.Errorf("failed run wrote to stdout: %q", r.stdout)
			}
		})
	}
}

func node(name string) *v1.Node { return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }

func TestSelectNode(t *testing.T) {
	a, b := node("node-a"), node("node-b")
	tests := []struct {
		name    string
		nodes   []*v1.Node
		want    string // hostname
		haveIPs bool
		wantErr string
		wantNil bool
	}{
		{name: "named", nodes: []*v1.Node{a, b}, want: "node-b"},
		{name: "the only one", nodes: []*v1.Node{a}},
		{name: "several, none named", nodes: []*v1.Node{a, b},
			wantErr: "the input has 2 Nodes (node-a, node-b): choose one with --hostname-override"},
		{name: "named but absent", nodes: []*v1.Node{a, b}, want: "node-c", haveIPs: true,
			wantErr: `no Node named "node-c" in the input; it has node-a, node-b`},
		{name: "none, named, addresses from flags", want: "node-c", haveIPs: true, wantNil: true},
		{name: "none, named, no addresses", want: "node-c",
			wantErr: `the input has no Node "node-c": give its addresses with --node-ip`},
		{name: "none at all", wantErr: "the input has no Node: name the node with --hostname-override and give its addresses with --node-ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectNode(tc.nodes, tc.want, tc.haveIPs)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantNil:
				if got != nil {
					t.Errorf("got Node %q, want none", got.Name)
				}
			case tc.want == "" && got != tc.nodes[0], tc.want != "" && (got == nil || got.Name != tc.want):
				t.Errorf("got %v, want Node %q", got, tc.want)
			}
		})
	}
}

func TestWriteConfigTo(t *testing.T) {
	path := t.TempDir() + "/config.yaml"
	r := runCmd(t, "", "--write-config-to="+path, "--ipvs-scheduler=wlc", "--drain-timeout=7s")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: KubeProxyConfiguration", "scheduler: wlc", "kind: IPVSProxyConfiguration", "drainTimeout: 7s", "mode: ipvs"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("written config lacks %q:\n%s", want, data)
		}
	}
}
