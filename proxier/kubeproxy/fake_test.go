package kubeproxy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "_")+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("differs from %s (-want +got):\n%s", path, diff)
	}
}

// withNeighbours adds what others keep on a node: kubelet's chains,
// kube-proxy's iptables-mode chain, a CNI plugin's chain and a foreign
// KUBE-* set matched by a foreign chain.
func withNeighbours(f *Fake, b Backend) {
	f.AddJump(b, IPv4, "filter", "INPUT", "KUBE-FIREWALL", "")
	f.AddJump(b, IPv4, "filter", "OUTPUT", "KUBE-FIREWALL", "")
	f.AddChain(b, IPv4, "filter", "KUBE-KUBELET-CANARY")
	f.AddChain(b, IPv4, "mangle", "KUBE-IPTABLES-HINT")
	f.AddJump(b, IPv4, "nat", "POSTROUTING", "CNI-MASQ", "")
	f.AddJump(b, IPv4, "nat", "PREROUTING", "KUBE-NODEPORTS", "")
	f.AddSet("KUBE-DST-FOREIGN")
	f.AddSetMatch(b, IPv4, "filter", "KUBE-ROUTER-INPUT", "KUBE-DST-FOREIGN")
}

func TestFakeCleanup(t *testing.T) {
	for _, tc := range []struct {
		name string
		seed func(f *Fake)
	}{
		{"nft dual-stack", func(f *Fake) {
			f.SeedKubeProxy(NFT, IPv4)
			f.SeedKubeProxy(NFT, IPv6)
			withNeighbours(f, NFT)
		}},
		{"legacy", func(f *Fake) {
			f.SeedKubeProxy(Legacy, IPv4)
			withNeighbours(f, Legacy)
		}},
		{"a CNI chain jumps into kube-proxy's", func(f *Fake) {
			f.SeedKubeProxy(NFT, IPv4)
			f.AddJump(NFT, IPv4, "nat", "CNI-HOSTPORT-MASQ", "KUBE-MARK-MASQ", "")
		}},
		{"nothing of kube-proxy's", func(f *Fake) { withNeighbours(f, NFT) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			tc.seed(f)
			r, err := f.CleanupLeftovers()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "# report\n"+r.String()+"# left in the fake\n"+f.Dump())

			before := f.Dump()
			again, err := f.CleanupLeftovers()
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Removed) != 0 || f.Dump() != before {
				t.Errorf("a second cleanup changed something:\n%s", again)
			}
		})
	}
}

func TestFakeSetsReleasedLate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lag      int
		wantLeft int
	}{
		{"released within the retries", len(settleDelays), 0},
		{"never released in time", len(settleDelays) + 1, len(kubeSets)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake()
			f.SeedKubeProxy(NFT, IPv4)
			f.SetReleaseLag(tc.lag)
			r, err := f.CleanupLeftovers()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(kubeSets) - r.Count(KindSet); got != tc.wantLeft {
				t.Errorf("%d sets left, want %d:\n%s", got, tc.wantLeft, r)
			}
			if len(r.Commands) != 0 {
				t.Errorf("commands without legacy tables: %q", r.Commands)
			}
		})
	}
}

func TestFakeFail(t *testing.T) {
	f := NewFake()
	f.SeedKubeProxy(NFT, IPv4)
	before := f.Dump()
	boom := errors.New("boom")
	f.Fail(CallCleanupLeftovers, fault.Rule{Err: boom, Times: 1})
	if _, err := f.CleanupLeftovers(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if f.Dump() != before {
		t.Error("a failed cleanup changed the state")
	}
	r, err := f.CleanupLeftovers()
	if err != nil || r.Count(KindChain) != len(kubeChains) || r.Count(KindSet) != len(kubeSets) {
		t.Errorf("second cleanup: %v\n%s", err, r)
	}
	if got := f.Calls(CallCleanupLeftovers); got != 2 {
		t.Errorf("Calls(CleanupLeftovers) = %d, want 2", got)
	}
}
