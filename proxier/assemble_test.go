package proxier

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The reconcile engine assembles the desired state one changed service at
// a time, in whatever order the informers deliver; Build assembles it from
// scratch. Both go through the Assembler, and this property says they end
// equal: after any sequence of fragment changes (older versions first,
// removals and re-additions, services that come and go), the state, every
// service's problems as the engine tracks them (refreshing only the
// services each Set reports), and the health checks equal Build's.
func FuzzAssemble(f *testing.F) {
	f.Add([]byte{3, 1, 0, 1, 2, 1, 4, 2, 1, 2, 9, 9})
	f.Add([]byte("a fairly long seed that drives many choices through the generator 0123456789"))
	f.Fuzz(func(t *testing.T, data []byte) { checkAssembleEquivalence(t, &byteSource{b: data}) })
}

// TestAssembleEquivalence runs the property over many random inputs, so
// that `go test` covers it without the fuzzer.
func TestAssembleEquivalence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		data := make([]byte, 400+rng.IntN(800))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkAssembleEquivalence(t, &byteSource{b: data}) })
		if t.Failed() {
			t.Fatalf("failed on input %x", data)
		}
	}
}

func checkAssembleEquivalence(t *testing.T, s *byteSource) {
	var svcs []*v1.Service
	for i, n := 0, 1+s.pick(6); i < n; i++ {
		svc := fuzzService(s, i)
		// Creation times vary, so that an older service claims a virtual
		// server another already holds.
		svc.CreationTimestamp = metav1.NewTime(epoch.Add(time.Duration(s.pick(3)) * time.Hour))
		svc.Spec.HealthCheckNodePort = int32(32000 + s.pick(2))
		svcs = append(svcs, svc)
	}
	sls := fuzzSlices(s, svcs, 8)
	node := fuzzNode(s)
	cfg := Config{Scheduler: fuzzScheds[s.pick(4)], MasqueradeAll: s.bool()}

	want, wantProblems := Build(svcs, sls, node, cfg)
	bySvc, sliceProblems := groupSlices(svcs, NewSlices(sls))
	wantProblems = wantProblems[len(sliceProblems):]
	final := map[types.NamespacedName]*v1.Service{}
	for _, svc := range svcs {
		final[nameOf(svc)] = svc // a later duplicate replaces the first, as in Build
	}

	a := NewAssembler()
	tracked := map[types.NamespacedName][]Problem{}
	set := func(name types.NamespacedName, svc *v1.Service) {
		var frag *ServiceState
		var p []Problem
		if svc != nil {
			frag, p = BuildService(svc, bySvc[name], node, cfg)
		}
		for _, n := range a.Set(name, frag, p).Services {
			tracked[n] = a.Problems(n)
		}
	}
	// The netfilter intent is also followed as the engine follows it: the
	// intent taken at the start, then after some Sets its changed groups
	// replaced (NetfilterChanges, NetfilterOf).
	nf := a.Netfilter(&cfg, &node, nil)
	follow := func() {
		g := a.NetfilterChanges()
		part := a.NetfilterOf(&g, &cfg, &node, nil)
		nf = nf.ReplaceGroups(&g, &part)
	}
	for _, ev := range assembleEvents(s, svcs, final) {
		set(ev.name, ev.svc)
		if s.bool() {
			follow()
		}
	}
	follow()
	if g, w := strings.Join(nf.Lines(), "\n"), strings.Join(want.Netfilter.Lines(), "\n"); g != w {
		t.Fatalf("netfilter intent followed by changed groups differs from Build's:\n--- followed\n%s\n--- Build\n%s", g, w)
	}

	got := a.State(&cfg, &node)
	if g, w := got.Dump("kube-ipvs0"), want.Dump("kube-ipvs0"); g != w {
		t.Fatalf("incremental assembly differs from Build:\n--- incremental\n%s--- Build\n%s", g, w)
	}
	var gotProblems []Problem
	for _, name := range orderOfBuild(svcs) {
		if !slices.Equal(tracked[name], a.Problems(name)) {
			t.Errorf("problems of %s tracked from Set's changes %v, now %v", name, tracked[name], a.Problems(name))
		}
		gotProblems = append(gotProblems, tracked[name]...)
	}
	if !slices.Equal(gotProblems, wantProblems) {
		t.Errorf("problems differ from Build's:\n got %v\nwant %v", gotProblems, wantProblems)
	}
	wantHealth := map[types.NamespacedName]HealthCheck{}
	var wantInternal, wantExternal [2]int
	for name, svc := range final {
		frag, _ := BuildService(svc, bySvc[name], node, cfg)
		if frag == nil {
			continue
		}
		if frag.HealthCheckNodePort != 0 {
			wantHealth[name] = HealthCheck{Port: frag.HealthCheckNodePort, LocalEndpoints: frag.LocalReadyEndpoints}
		}
		for f, nl := range frag.NoLocal {
			wantInternal[f] += b2i(nl.Internal)
			wantExternal[f] += b2i(nl.External)
		}
	}
	if g := a.HealthChecks(); !maps.Equal(g, wantHealth) {
		t.Errorf("health checks %v, want %v", g, wantHealth)
	}
	if i, e := a.NoLocalEndpoints(); i != wantInternal || e != wantExternal {
		t.Errorf("services without local endpoints: internal %v external %v, want %v %v", i, e, wantInternal, wantExternal)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type assembleEvent struct {
	name types.NamespacedName
	svc  *v1.Service // nil removes
}

// assembleEvents is a random history that ends with each service of final
// at its final version and nothing else: services in random order, some
// first at an earlier version (another generated service under the same
// name), some removed and added again, and decoys that come and go.
func assembleEvents(s *byteSource, svcs []*v1.Service, final map[types.NamespacedName]*v1.Service) []assembleEvent {
	var evs []assembleEvent
	for _, name := range orderOfBuild(svcs) {
		if s.bool() {
			old := svcs[s.pick(len(svcs))].DeepCopy()
			old.Name = name.Name
			evs = append(evs, assembleEvent{name, old})
		}
		if s.pick(4) == 0 {
			evs = append(evs, assembleEvent{name, final[name]}, assembleEvent{name, nil})
		}
		evs = append(evs, assembleEvent{name, final[name]})
	}
	for i, n := 0, s.pick(3); i < n; i++ {
		decoy := svcs[s.pick(len(svcs))].DeepCopy()
		decoy.Name = fmt.Sprint("decoy", i)
		evs = append(evs, assembleEvent{nameOf(decoy), decoy}, assembleEvent{nameOf(decoy), nil})
	}
	// Shuffle, keeping each name's events in order: the engine sees one
	// service's versions in order, different services in any order.
	out := make([]assembleEvent, 0, len(evs))
	for len(evs) > 0 {
		i := s.pick(len(evs))
		for j := range i {
			if evs[j].name == evs[i].name {
				i = j
				break
			}
		}
		out = append(out, evs[i])
		evs = slices.Delete(evs, i, i+1)
	}
	return out
}

// orderOfBuild is the order of Build's problems: services as first listed.
func orderOfBuild(svcs []*v1.Service) []types.NamespacedName {
	var out []types.NamespacedName
	for _, svc := range svcs {
		if n := nameOf(svc); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func nameOf(svc *v1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}

// A service that loses a virtual server has a conflict problem for as long
// as it loses, and the Set that changes the winner names every claimant.
func TestAssembleConflicts(t *testing.T) {
	node, cfg := testNode(), Config{}
	frag := func(name string, age time.Duration) (types.NamespacedName, *ServiceState) {
		svc := makeService("ns", name, clusterIPs("198.18.0.10"), func(s *v1.Service) {
			s.CreationTimestamp = metav1.NewTime(epoch.Add(-age))
		})
		st, p := BuildService(svc, nil, node, cfg)
		if len(p) > 0 {
			t.Fatalf("problems building %s: %v", name, p)
		}
		return nameOf(svc), st
	}
	// Names sort against age, so that age decides.
	young, youngFrag := frag("a-young", time.Hour)
	old, oldFrag := frag("b-old", 2*time.Hour)
	a := NewAssembler()

	if ch := a.Set(young, youngFrag, nil); !slices.Equal(ch.Services, []types.NamespacedName{young}) {
		t.Errorf("first claim changed the problems of %v, want only %v", ch.Services, young)
	}
	ch := a.Set(old, oldFrag, nil)
	if !slices.Equal(ch.Services, []types.NamespacedName{young, old}) {
		t.Errorf("an older claimant changed the problems of %v, want both", ch.Services)
	}
	expectProblems(t, a.Problems(young), "198.18.0.10:80 is already claimed by service ns/b-old")
	expectProblems(t, a.Problems(old))
	if w, _ := a.Owner(vsKey(t, "tcp 198.18.0.10:80")); w != old {
		t.Errorf("owner %v, want the older service %v", w, old)
	}

	ch = a.Set(old, nil, nil)
	if !slices.Equal(ch.Services, []types.NamespacedName{young, old}) {
		t.Errorf("the winner's removal changed the problems of %v, want both", ch.Services)
	}
	expectProblems(t, a.Problems(young))
	if w, _ := a.Owner(vsKey(t, "tcp 198.18.0.10:80")); w != young {
		t.Errorf("owner %v after the winner left, want %v", w, young)
	}
}

// A service whose external IP is its own cluster IP builds that virtual
// server twice: the first (the cluster IP's) is kept and a problem says so.
func TestBuildServiceSameVirtualServerTwice(t *testing.T) {
	svc := makeService("ns", "twice", clusterIPs("198.18.0.10"), func(s *v1.Service) {
		s.Spec.ExternalIPs = []string{"198.18.0.10"}
	})
	st, p := Build([]*v1.Service{svc}, []*discovery.EndpointSlice{twoBackends("twice")}, testNode(), Config{})
	expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
	expectProblems(t, p, "virtual server tcp 198.18.0.10:80 is built twice")
}
