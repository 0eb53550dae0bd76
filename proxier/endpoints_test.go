package proxier

import (
	"fmt"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// conditions sets an endpoint's conditions as given, nil meaning omitted.
func conditions(ready, serving, terminating *bool) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		e.Conditions = discovery.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating}
	}
}

var (
	yes = new(true)
	no  = new(false)
)

// TestBuildEndpointConditionDefaults follows kube-proxy v1.37.2
// pkg/proxy/endpointslicecache.go addEndpoints: ready := Ready == nil ||
// *Ready; serving := Serving == nil || *Serving; terminating := Terminating
// != nil && *Terminating (the API documents nil ready and nil serving as
// "true").
func TestBuildEndpointConditionDefaults(t *testing.T) {
	web := []*v1.Service{makeService("ns", "web")}
	const vs = "tcp 198.18.0.10:80"
	runBuildCases(t, []buildCase{{
		name:     "all conditions omitted: ready, at weight 1",
		services: web,
		slices:   slice("web", ep("198.18.10.1", conditions(nil, nil, nil))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, vs, "198.18.10.1:8080")
		},
	}, {
		name:     "terminating with serving omitted is serving: the KEP-1669 fallback takes it",
		services: web,
		slices: slice("web", ep("198.18.10.1", conditions(no, nil, yes)),
			ep("198.18.10.2", conditions(no, no, yes))),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, vs, "198.18.10.1:8080")
			expectDraining(t, st, vs, "198.18.10.2:8080")
		},
	}, {
		name:     "terminating with serving omitted drains at weight 0 while another is ready",
		services: web,
		slices:   slice("web", ep("198.18.10.1", conditions(no, nil, yes)), ep("198.18.10.3")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, vs, "198.18.10.3:8080")
			expectDraining(t, st, vs, "198.18.10.1:8080")
		},
	}, {
		name:     "not ready, serving and terminating omitted: not a real server",
		services: web,
		slices:   slice("web", ep("198.18.10.1", conditions(no, nil, nil)), ep("198.18.10.3")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, vs, "198.18.10.3:8080")
			expectDraining(t, st, vs)
		},
	}, {
		name:     "ready omitted while terminating is ready, as kube-proxy reads it",
		services: web,
		slices:   slice("web", ep("198.18.10.1", conditions(nil, nil, yes)), ep("198.18.10.3")),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, vs, "198.18.10.1:8080", "198.18.10.3:8080")
		},
	}})
}

// endpointCopy is one copy of 198.18.10.1: a name and its conditions.
type endpointCopy struct {
	name string
	mut  func(*discovery.Endpoint)
}

var (
	readyCopy       = endpointCopy{"ready", func(*discovery.Endpoint) {}}
	notReadyCopy    = endpointCopy{"not ready", notReady}
	servingTermCopy = endpointCopy{"terminating serving", terminating(true)}
	deadTermCopy    = endpointCopy{"terminating not serving", terminating(false)}
)

// TestBuildDuplicateEndpoints: one address in two slices (or twice in one)
// is kept once, and which copy is kept never depends on the slices' names
// or order. kube-proxy v1.37.2 endpointslicecache.go addEndpoints keeps a
// copy that is not terminating over a terminating one ("we want to prefer
// the running pod over the terminating one"); between two endpointCopy that are
// both terminating or both not, its choice follows map order ("the result
// is undefined"), and ours is the ready, then the serving one.
func TestBuildDuplicateEndpoints(t *testing.T) {
	const vs = "tcp 198.18.0.10:80"
	cases := []struct {
		name     string
		a, b     endpointCopy
		route    []string // where new connections to vs go
		draining []string
	}{
		{"not terminating wins over terminating serving", readyCopy, servingTermCopy, []string{"198.18.10.1:8080"}, nil},
		{"not ready but not terminating wins over terminating serving: no real server", notReadyCopy, servingTermCopy, nil, nil},
		{"not ready but not terminating wins over terminating not serving", notReadyCopy, deadTermCopy, nil, nil},
		{"ready wins over not ready", readyCopy, notReadyCopy, []string{"198.18.10.1:8080"}, nil},
		{"serving wins between terminating endpointCopy: the fallback takes it", servingTermCopy, deadTermCopy, []string{"198.18.10.1:8080"}, nil},
		{"two ready endpointCopy: one real server", readyCopy, readyCopy, []string{"198.18.10.1:8080"}, nil},
	}
	svc := []*v1.Service{makeService("ns", "web")}
	for _, tc := range cases {
		for _, layout := range duplicateLayouts(tc.a, tc.b) {
			t.Run(tc.name+"/"+layout.name, func(t *testing.T) {
				st, problems := Build(svc, layout.slices, testNode(), Config{})
				expectRoute(t, st, vs, tc.route...)
				expectDraining(t, st, vs, tc.draining...)
				expectProblems(t, problems)
				if n := len(st.Services[vsKey(t, vs)].Reals); n > 1 {
					t.Errorf("%d real servers, want at most 1", n)
				}
			})
		}
	}
}

type sliceLayout struct {
	name   string
	slices []*discovery.EndpointSlice
}

// duplicateLayouts lists 198.18.10.1 as copy a and as copy b in every way:
// a in web-1 and b in web-2 and the reverse, each given in both orders;
// both in one slice, in both orders; and among 40 other endpoints, so that
// long lists (see scanLimit) are covered too. Only web-1 carries padding.
func duplicateLayouts(a, b endpointCopy) []sliceLayout {
	one := func(name string, c endpointCopy, pad int) *discovery.EndpointSlice {
		eps := []discovery.Endpoint{ep("198.18.10.1", c.mut)}
		for i := range pad {
			eps = append(eps, ep(fmt.Sprintf("198.18.11.%d", i+1), notReady))
		}
		return makeSlice("ns", "web", name, eps)
	}
	var out []sliceLayout
	for _, pad := range []int{0, 40} {
		for _, first := range []endpointCopy{a, b} {
			second := b
			if first.name == b.name && a.name != b.name {
				second = a
			}
			s1, s2 := one("web-1", first, pad), one("web-2", second, 0)
			what := fmt.Sprintf("%s in web-1, %s in web-2, pad %d", first.name, second.name, pad)
			out = append(out,
				sliceLayout{what, []*discovery.EndpointSlice{s1, s2}},
				sliceLayout{what + ", given in reverse", []*discovery.EndpointSlice{s2, s1}})
			same := one("web-1", first, pad)
			same.Endpoints = slices.Insert(same.Endpoints, len(same.Endpoints)/2, ep("198.18.10.1", second.mut))
			out = append(out, sliceLayout{fmt.Sprintf("%s then %s in one slice, pad %d", first.name, second.name, pad),
				[]*discovery.EndpointSlice{same}})
		}
	}
	return out
}

// TestBuildHeadlessSlices: slices labelled service.kubernetes.io/headless
// are never read, as kube-proxy's informer never lists them
// (cmd/kube-proxy/app/server.go, labelSelectorNoHeadlessEndpoints) and the
// daemon's does not either: Build (plan) and BuildService ignore them
// without a problem, even for a service that is not headless.
func TestBuildHeadlessSlices(t *testing.T) {
	headless := func(sl *discovery.EndpointSlice) { sl.Labels[v1.IsHeadlessService] = "" }
	web := makeService("ns", "web")
	stale := makeSlice("ns", "web", "web-h", []discovery.Endpoint{ep("198.18.10.9")}, headless)
	orphan := makeSlice("ns", "gone", "gone-h", []discovery.Endpoint{ep("198.18.10.8")}, headless)
	db := makeService("ns", "db", func(s *v1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ClusterIPNone, []string{v1.ClusterIPNone}
	})
	dbSlice := makeSlice("ns", "db", "db-h", []discovery.Endpoint{ep("198.18.10.7")}, headless)
	runBuildCases(t, []buildCase{{
		name:     "a headless-labelled slice of a served service adds no endpoint",
		services: []*v1.Service{web},
		slices:   append(slice("web", ep("198.18.10.1")), stale),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.1:8080")
			expectProblems(t, p)
		},
	}, {
		name:     "headless slices of a headless or unknown service are not reported",
		services: []*v1.Service{web, db},
		slices:   []*discovery.EndpointSlice{orphan, dbSlice},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80")
			expectProblems(t, p)
		},
	}, {
		name:     "the same slice without the label is read",
		services: []*v1.Service{web},
		slices:   []*discovery.EndpointSlice{makeSlice("ns", "web", "web-h", []discovery.Endpoint{ep("198.18.10.9")})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.10.9:8080")
		},
	}})
	st, problems := BuildService(web, NewSlices([]*discovery.EndpointSlice{stale}), testNode(), Config{})
	if len(st.Services) != 1 || len(st.Services[0].Reals) != 0 || len(problems) != 0 {
		t.Errorf("BuildService read a headless slice: %v, problems %v", st.Services, problems)
	}
}
