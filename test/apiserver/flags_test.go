package apiserver

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestServiceCIDRs(t *testing.T) {
	tests := []struct {
		name       string
		v4, v6     string
		want       []string
		kubernetes string
		wantErr    bool
	}{
		{name: "default", want: []string{"198.18.0.0/16"}, kubernetes: "198.18.0.1"},
		{name: "masked", v4: "198.18.7.9/24", want: []string{"198.18.7.0/24"}, kubernetes: "198.18.7.1"},
		{
			name: "dual-stack", v6: DefaultServiceCIDRv6,
			want: []string{"198.18.0.0/16", "fd00:198:18::/108"}, kubernetes: "198.18.0.1",
		},
		{name: "v6 as primary", v4: "fd00::/108", wantErr: true},
		{name: "v4 as secondary", v6: "198.19.0.0/16", wantErr: true},
		{name: "garbage", v4: "nope", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, kubernetes, err := serviceCIDRs(tc.v4, tc.v6)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("serviceCIDRs(%q, %q) = %v, want an error", tc.v4, tc.v6, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CIDRs (-want +got):\n%s", diff)
			}
			if kubernetes.String() != tc.kubernetes {
				t.Errorf("kubernetes Service IP = %s, want %s", kubernetes, tc.kubernetes)
			}
		})
	}
}

// TestDefaultRangesAreTestRanges guards the network rule: every address that
// may carry packets is in 198.18.0.0/15 or fd00::/8.
func TestDefaultRangesAreTestRanges(t *testing.T) {
	for cidr, outer := range map[string]string{DefaultServiceCIDR: "198.18.0.0/15", DefaultServiceCIDRv6: "fd00::/8"} {
		in, out := netip.MustParsePrefix(cidr), netip.MustParsePrefix(outer)
		if !out.Contains(in.Addr()) || in.Bits() < out.Bits() {
			t.Errorf("%s is not inside %s", cidr, outer)
		}
	}
}

func TestAPIServerArgs(t *testing.T) {
	args := apiServerArgs("/d", "http://127.0.0.1:2379", 6443, []string{"198.18.0.0/16", "fd00:198:18::/108"},
		[]string{"--authorization-mode=Node,RBAC"})
	for _, want := range []string{
		"--secure-port=6443",
		"--bind-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=198.18.0.0/16,fd00:198:18::/108",
		"--client-ca-file=/d/ca.crt",
		"--tls-cert-file=/d/apiserver.crt",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("Missing %s in %v", want, args)
		}
	}
	if last := args[len(args)-1]; last != "--authorization-mode=Node,RBAC" {
		t.Errorf("Last flag = %s, want the extra flag last so it overrides ours", last)
	}
}

func TestEtcdArgsLoopbackOnly(t *testing.T) {
	url := regexp.MustCompile(`(https?://[^,]+)`)
	for _, arg := range etcdArgs("/d/etcd", 1, 2) {
		for _, u := range url.FindAllString(arg, -1) {
			if !strings.HasPrefix(u, "http://127.0.0.1:") {
				t.Errorf("%s listens or advertises beyond loopback", arg)
			}
		}
	}
}

func TestBinDir(t *testing.T) {
	t.Setenv(EnvBinDir, "")
	t.Setenv(EnvCache, "/c")
	if got, want := BinDir(), "/c/k8s-"+Version+"/bin"; got != want {
		t.Errorf("BinDir() = %s, want %s", got, want)
	}
	t.Setenv(EnvBinDir, "/b")
	if got := BinDir(); got != "/b" {
		t.Errorf("BinDir() = %s, want $%s", got, EnvBinDir)
	}
}

func TestBinaryMissingSaysHowToBuild(t *testing.T) {
	dir := t.TempDir()
	_, err := Binary(dir, KubeAPIServer)
	if err == nil || !strings.Contains(err.Error(), "make k8s-bins") {
		t.Errorf("Binary() error = %v, want one naming make k8s-bins", err)
	}
	if err := os.WriteFile(filepath.Join(dir, Etcd), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Binary(dir, Etcd); err == nil {
		t.Errorf("Binary() accepted a file that is not executable")
	}
}

// TestVersionMatchesBuildModule keeps Version and bins/go.mod in step: the
// cache path is named after Version, the binaries after go.mod.
func TestVersionMatchesBuildModule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("bins", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nrequire k8s.io/kubernetes " + Version + "\n"; !strings.Contains(string(data), want) {
		t.Errorf("bins/go.mod does not require k8s.io/kubernetes %s", Version)
	}
}
