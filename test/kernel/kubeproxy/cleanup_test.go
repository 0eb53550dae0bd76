//go:build vmtest

package kubeproxy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
)

// Per family, what the layout holds of kube-proxy's: 9 jumps from built-in
// chains, 11 chains, 17 sets of which 8 are used by its rules.
const (
	jumpsPerFamily    = 9
	chainsPerFamily   = 11
	setsPerFamily     = 17
	usedSetsPerFamily = 8
)

func cleanup(t *testing.T, n *node) kubeproxy.Report {
	t.Helper()
	start := time.Now()
	r, err := kubeproxy.New(kubeproxy.Config{NetNS: int(n.fd)}).CleanupLeftovers()
	t.Logf("CleanupLeftovers took %v:\n%s", time.Since(start), r)
	if err != nil {
		t.Fatalf("CleanupLeftovers: %v", err)
	}
	return r
}

func TestCleanupIptablesNFT(t *testing.T) {
	n := newNode(t)
	n.load(t, nftBackend, kubeProxy, others)
	// A legacy table holding only kubelet's canary: nothing to report.
	n.run(t, "", "iptables-legacy", "-t", "filter", "-N", "KUBE-KUBELET-CANARY")
	want := newNode(t)
	want.load(t, nftBackend, others)

	r := cleanup(t, n)
	got := map[string]int{"rules": r.Count(kubeproxy.KindRule), "chains": r.Count(kubeproxy.KindChain), "sets": r.Count(kubeproxy.KindSet)}
	if diff := cmp.Diff(map[string]int{"rules": 2 * jumpsPerFamily, "chains": 2 * chainsPerFamily, "sets": 2 * setsPerFamily}, got); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if len(r.Left) != 0 || len(r.Commands) != 0 {
		t.Errorf("left %v, commands %q; want none", r.Left, r.Commands)
	}
	if diff := cmp.Diff(want.save(t, nftBackend), n.save(t, nftBackend)); diff != "" {
		t.Errorf("iptables-nft-save differs from a node without kube-proxy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.sets(t), n.sets(t)); diff != "" {
		t.Errorf("ipsets differ from a node without kube-proxy (-want +got):\n%s", diff)
	}
	n.run(t, "", "nft", "list", "ruleset") // what is left still lists

	if again := cleanup(t, n); len(again.Removed)+len(again.Left) != 0 {
		t.Errorf("a second cleanup found something:\n%s", again)
	}
}

func TestCleanupIptablesLegacyIsReported(t *testing.T) {
	n := newNode(t)
	n.load(t, legacyBackend, kubeProxy, others)
	want := newNode(t)
	want.load(t, legacyBackend, others)
	before := n.save(t, legacyBackend)

	r := cleanup(t, n)
	if r.Count(kubeproxy.KindRule)+r.Count(kubeproxy.KindChain) != 0 {
		t.Errorf("removed legacy rules or chains:\n%s", r)
	}
	if diff := cmp.Diff(before, n.save(t, legacyBackend)); diff != "" {
		t.Errorf("iptables-legacy-save changed (-before +after):\n%s", diff)
	}
	left := map[kubeproxy.Kind]int{}
	for _, l := range r.Left {
		left[l.Kind]++
	}
	wantLeft := map[kubeproxy.Kind]int{kubeproxy.KindRule: 2 * jumpsPerFamily, kubeproxy.KindChain: 2 * chainsPerFamily, kubeproxy.KindSet: 2 * usedSetsPerFamily}
	if diff := cmp.Diff(wantLeft, left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	if got, want := r.Count(kubeproxy.KindSet), 2*(setsPerFamily-usedSetsPerFamily); got != want {
		t.Errorf("destroyed %d unused sets, want %d", got, want)
	}

	// The reported commands finish the job.
	n.run(t, "set -e\n"+strings.Join(r.Commands, "\n")+"\n", "sh")
	if diff := cmp.Diff(want.save(t, legacyBackend), n.save(t, legacyBackend)); diff != "" {
		t.Errorf("after the commands, iptables-legacy-save differs from a node without kube-proxy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.sets(t), n.sets(t)); diff != "" {
		t.Errorf("after the commands, ipsets differ from a node without kube-proxy (-want +got):\n%s", diff)
	}
}

func TestCleanupKeepsChainsForeignChainsJumpTo(t *testing.T) {
	n := newNode(t)
	n.load(t, nftBackend, kubeProxy, others)
	n.run(t, "", "iptables-nft", "-t", "nat", "-N", "CNI-HOSTPORT-MASQ")
	n.run(t, "", "iptables-nft", "-t", "nat", "-A", "CNI-HOSTPORT-MASQ", "-j", "KUBE-MARK-MASQ")

	r := cleanup(t, n)
	wantLeft := []kubeproxy.Leftover{{
		Object: kubeproxy.Object{Kind: kubeproxy.KindChain, Backend: kubeproxy.NFT, Family: kubeproxy.IPv4, Table: "nat", Name: "KUBE-MARK-MASQ"},
		Reason: "chain CNI-HOSTPORT-MASQ jumps to it",
	}}
	if diff := cmp.Diff(wantLeft, r.Left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	if got, want := r.Count(kubeproxy.KindChain), 2*chainsPerFamily-1; got != want {
		t.Errorf("removed %d chains, want %d", got, want)
	}
	saved := n.save(t, nftBackend)
	for _, want := range []string{"ip :KUBE-MARK-MASQ", "ip -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", "ip -A CNI-HOSTPORT-MASQ -j KUBE-MARK-MASQ"} {
		if !strings.Contains(saved, want) {
			t.Errorf("iptables-nft-save lacks %q:\n%s", want, saved)
		}
	}
	for _, gone := range []string{"KUBE-SERVICES", "ip6 :KUBE-MARK-MASQ"} {
		if strings.Contains(saved, gone) {
			t.Errorf("iptables-nft-save still has %q:\n%s", gone, saved)
		}
	}
}

func TestCleanupOfACleanNode(t *testing.T) {
	n := newNode(t)
	if r := cleanup(t, n); r.String() != "" {
		t.Errorf("report on an empty namespace:\n%s", r)
	}
}
