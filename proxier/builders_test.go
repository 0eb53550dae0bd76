package proxier

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Short names for the object builders of package k8stest.

var (
	epoch         = k8stest.Epoch
	makeService   = k8stest.Service
	clusterIPs    = k8stest.ClusterIPs
	nodePort      = k8stest.NodePort
	loadBalancer  = k8stest.LoadBalancer
	annotate      = k8stest.Annotate
	externalLocal = k8stest.ExternalLocal
	internalLocal = k8stest.InternalLocal
	makeSlice     = k8stest.Slice
	ep            = k8stest.Endpoint
	onNode        = k8stest.OnNode
	terminating   = k8stest.Terminating
	notReady      = k8stest.NotReady
	zoneHint      = k8stest.ZoneHint
	nodeHint      = k8stest.NodeHint
)

// testNode is node-a in zone-a with one address per family.
func testNode() Node {
	return Node{Name: "node-a", Labels: map[string]string{v1.LabelTopologyZone: "zone-a"},
		IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("fd00::1:1")}}
}

// Behaviour assertions over a State.

// vsKey parses "tcp 198.18.0.10:80".
func vsKey(t testing.TB, s string) model.VSKey {
	t.Helper()
	proto, ap, _ := strings.Cut(s, " ")
	p, err := model.ParseProtocol(proto)
	if err != nil {
		t.Fatalf("bad key %q: %v", s, err)
	}
	a := netip.MustParseAddrPort(ap)
	return model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: p}
}

func keyStrings(ks []model.RSKey) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, k.String())
	}
	return out
}

// expectRoute asserts that a new connection to vs goes to exactly the given
// backends (none means the virtual server exists without usable backends).
func expectRoute(t testing.TB, st *model.State, vs string, backends ...string) {
	t.Helper()
	got, ok := st.Route(vsKey(t, vs))
	if !ok {
		t.Errorf("no virtual server %s; have:\n%s", vs, strings.Join(st.IPVSLines(), "\n"))
		return
	}
	slices.Sort(backends)
	if g := keyStrings(got); !slices.Equal(g, backends) {
		t.Errorf("new connections to %s go to %v, want %v", vs, g, backends)
	}
}

// expectDraining asserts which backends of vs only finish existing
// connections (weight 0).
func expectDraining(t testing.TB, st *model.State, vs string, backends ...string) {
	t.Helper()
	slices.Sort(backends)
	if g := keyStrings(st.Draining(vsKey(t, vs))); !slices.Equal(g, backends) {
		t.Errorf("draining backends of %s are %v, want %v", vs, g, backends)
	}
}

// expectNoVS asserts that no virtual server exists for vs.
func expectNoVS(t testing.TB, st *model.State, vs string) {
	t.Helper()
	if _, ok := st.Services[vsKey(t, vs)]; ok {
		t.Errorf("unexpected virtual server %s", vs)
	}
}

func expectAddresses(t testing.TB, st *model.State, addrs ...string) {
	t.Helper()
	var got []string
	for _, a := range st.SortedAddresses() {
		got = append(got, a.String())
	}
	want := slices.Clone(addrs)
	slices.SortFunc(want, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("bound addresses %v, want %v", got, want)
	}
}

func expectProblems(t testing.TB, problems []Problem, substrings ...string) {
	t.Helper()
	if len(problems) != len(substrings) {
		t.Errorf("got %d problems, want %d: %v", len(problems), len(substrings), problems)
		return
	}
	for i, p := range problems {
		if !strings.Contains(p.String(), substrings[i]) {
			t.Errorf("problem %d = %q, want it to contain %q", i, p, substrings[i])
		}
	}
}
