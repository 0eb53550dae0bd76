package reconcile

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// source is a map-backed Source.
type source struct {
	svcs   map[types.NamespacedName]*v1.Service
	slices map[types.NamespacedName][]*proxier.Slice
	// raw holds the slices as put, for proxier.Build.
	raw map[types.NamespacedName][]*discovery.EndpointSlice
}

func newSource() *source {
	return &source{svcs: map[types.NamespacedName]*v1.Service{}, slices: map[types.NamespacedName][]*proxier.Slice{},
		raw: map[types.NamespacedName][]*discovery.EndpointSlice{}}
}

func (s *source) Service(n types.NamespacedName) *v1.Service { return s.svcs[n] }
func (s *source) EndpointSlices(n types.NamespacedName) []*proxier.Slice {
	return s.slices[n]
}
func (s *source) ServiceNames() []types.NamespacedName {
	var out []types.NamespacedName
	for n := range s.svcs {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// put stores a service with its slices (replacing them) and returns its name.
func (s *source) put(svc *v1.Service, sls ...*discovery.EndpointSlice) types.NamespacedName {
	n := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	s.svcs[n] = svc
	s.slices[n], s.raw[n] = proxier.NewSlices(sls), sls
	return n
}

func (s *source) remove(n types.NamespacedName) {
	delete(s.svcs, n)
	delete(s.slices, n)
	delete(s.raw, n)
}

// rig is an engine on fake adapters with a fake clock.
type rig struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktesting.FakeClock
	ipvs  *ipvs.Fake
	addr  *addr.Fake
	nf    *netfilter.Fake
	ct    *conntrack.Fake
	src   *source
	node  proxier.Node
	owner Owner
	// chunk is the engine's RepairChunk (0: the default).
	chunk int
	eng   *Engine
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, ctx: context.Background(), clock: clocktesting.NewFakeClock(k8stest.Epoch),
		ipvs: ipvs.NewFake(), addr: addr.NewFake(addr.Config{}), nf: netfilter.NewFake(), ct: conntrack.NewFake(),
		src:  newSource(),
		node: proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}}
	if err := r.addr.EnsureInterface(); err != nil {
		t.Fatal(err)
	}
	r.addr.ResetCalls()
	r.restart()
	return r
}

// restart replaces the engine with a new one on the same kernel, as a
// daemon restart does.
func (r *rig) restart() {
	eng, err := New(Config{Owner: r.owner, IPVS: r.ipvs, Addresses: r.addr, Netfilter: r.nf, Conntrack: r.ct, Clock: r.clock,
		RepairChunk: r.chunk}, r.src, r.node)
	if err != nil {
		r.t.Fatal(err)
	}
	r.eng = eng
}

// full runs a full reconcile and fails on kernel errors.
func (r *rig) full() Result {
	r.t.Helper()
	res := r.eng.Full(r.ctx, nil, false)
	if res.Failures > 0 {
		r.t.Fatalf("full reconcile had %d failures", res.Failures)
	}
	return res
}

func (r *rig) sync(names ...types.NamespacedName) Result {
	r.t.Helper()
	return r.eng.Sync(r.ctx, names)
}

// resetCounts forgets the fakes' call counters.
func (r *rig) resetCounts() {
	r.ipvs.ResetCalls()
	r.addr.ResetCalls()
}

// writes is the number of kernel writes since the last reset, all adapters.
func (r *rig) writes() int {
	return r.ipvs.Writes() + r.addr.Writes() + r.nfWrites()
}

// nfWrites is the number of netfilter transactions so far: full applies,
// updates and repairs.
func (r *rig) nfWrites() int {
	return r.nf.Calls(netfilter.CallApply) + r.nf.Calls(netfilter.CallUpdate) + r.nf.Calls(netfilter.CallRepair)
}

// kernel returns the kernel as a State, for behaviour assertions.
func (r *rig) kernel() *model.State {
	r.t.Helper()
	svcs, err := r.ipvs.ListServices()
	if err != nil {
		r.t.Fatal(err)
	}
	st := model.NewState()
	for _, s := range svcs {
		st.Services[s.VSKey] = s
	}
	return st
}

// expectKernel asserts the fake IPVS table equals the given ipvsadm lines.
func (r *rig) expectKernel(lines ...string) {
	r.t.Helper()
	got := strings.Join(r.kernel().IPVSLines(), "\n")
	if want := strings.Join(lines, "\n"); got != want {
		r.t.Errorf("kernel:\n%s\nwant:\n%s", got, want)
	}
}

// expectRoute asserts where new connections to vs go (weight > 0).
func (r *rig) expectRoute(vs string, backends ...string) {
	r.t.Helper()
	got, ok := r.kernel().Route(key(r.t, vs))
	if !ok {
		r.t.Errorf("no virtual server %s in the kernel", vs)
		return
	}
	var g []string
	for _, k := range got {
		g = append(g, k.String())
	}
	if !slices.Equal(g, backends) {
		r.t.Errorf("new connections to %s go to %v, want %v", vs, g, backends)
	}
}

func (r *rig) advance(d time.Duration) { r.clock.Step(d) }

func key(t testing.TB, s string) model.VSKey {
	t.Helper()
	proto, ap, _ := strings.Cut(s, " ")
	p, err := model.ParseProtocol(proto)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ap)
	return model.VSKey{Addr: a.Addr(), Port: a.Port(), Proto: p}
}

func rsKey(s string) model.RSKey {
	a := netip.MustParseAddrPort(s)
	return model.RSKey{Addr: a.Addr(), Port: a.Port()}
}

// web puts service ns/web (198.18.0.10:80) with the given endpoints.
func (r *rig) web(eps ...discovery.Endpoint) types.NamespacedName {
	return r.src.put(k8stest.Service("ns", "web"), k8stest.Slice("ns", "web", "web-1", eps))
}
