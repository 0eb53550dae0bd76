package reconcile

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// TestNodePodCIDRsFollowTheNode: with --detect-local-mode=NodeCIDR the
// netfilter intent's local sources are the node's pod CIDRs
// (proxier.LocalSources); when the Node's pod CIDRs change, the next sync
// applies them even though no service changed (kube-proxy restarts
// instead), and an unchanged node writes nothing.
func TestNodePodCIDRsFollowTheNode(t *testing.T) {
	r := newRig(t)
	r.web(ep("198.18.10.1"))
	r.node.PodCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
	eng, err := New(Config{Build: proxier.Config{LocalFromNodePodCIDRs: true, LocalCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		IPVS: r.ipvs, Addresses: r.addr, Netfilter: r.nf, Conntrack: r.ct, Clock: r.clock}, r.src, r.node)
	if err != nil {
		t.Fatal(err)
	}
	r.eng = eng
	r.full()
	localCIDRs := func() []netip.Prefix { return r.nf.Applied().LocalCIDRs }
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}, localCIDRs(), equatePrefixes); diff != "" {
		t.Fatalf("local CIDRs after the first full reconcile (-want +got):\n%s", diff)
	}

	same := r.node
	same.PodCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
	r.eng.SetNode(same)
	before := r.nfWrites()
	r.sync()
	if w := r.nfWrites() - before; w != 0 {
		t.Errorf("the same pod CIDRs gave %d netfilter writes, want 0", w)
	}

	moved := r.node
	moved.PodCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00:10:244:7::/64"), netip.MustParsePrefix("10.244.7.0/24")}
	r.eng.SetNode(moved)
	r.sync()
	want := []netip.Prefix{netip.MustParsePrefix("10.244.7.0/24"), netip.MustParsePrefix("fd00:10:244:7::/64")}
	if diff := cmp.Diff(want, localCIDRs(), equatePrefixes); diff != "" {
		t.Errorf("local CIDRs after the node's pod CIDRs changed (-want +got):\n%s", diff)
	}
}

var equatePrefixes = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
