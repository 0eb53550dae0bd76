package tracker

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sliceNames returns the names of the store's slices for svc.
func sliceNames(s *Store, svc types.NamespacedName) []string {
	var out []string
	for _, sl := range s.EndpointSlices(svc) {
		out = append(out, sl.Name)
	}
	return out
}

func TestStoreSlices(t *testing.T) {
	a, b := nn("ns", "a"), nn("ns", "b")
	a2 := makeSlice("ns", "a-2", "a")
	a1 := makeSlice("ns", "a-1", "a")
	other := makeSlice("other", "a-1", "a") // same names, other namespace
	orphan := makeSlice("ns", "orphan", "")
	cases := []struct {
		name  string
		steps []step
		want  map[types.NamespacedName][]string
	}{
		{
			name:  "sorted by slice name, per namespace",
			steps: []step{sliceEv(nil, a2), sliceEv(nil, a1), sliceEv(nil, other), sliceEv(nil, orphan)},
			want:  map[types.NamespacedName][]string{a: {"a-1", "a-2"}, b: nil, nn("other", "a"): {"a-1"}},
		},
		{
			name:  "update replaces",
			steps: []step{sliceEv(nil, a1), sliceEv(a1, updSlice(a1)), sliceEv(nil, updSlice(a1))},
			want:  map[types.NamespacedName][]string{a: {"a-1"}},
		},
		{
			name:  "label move re-indexes",
			steps: []step{sliceEv(nil, a1), sliceEv(nil, a2), sliceEv(a1, updSlice(a1, withServiceLabel("b")))},
			want:  map[types.NamespacedName][]string{a: {"a-2"}, b: {"a-1"}},
		},
		{
			name: "label removed un-indexes",
			steps: []step{sliceEv(nil, a1), sliceEv(a1, updSlice(a1, func(s *discovery.EndpointSlice) {
				delete(s.Labels, discovery.LabelServiceName)
			}))},
			want: map[types.NamespacedName][]string{a: nil},
		},
		{
			name:  "orphan labelled later",
			steps: []step{sliceEv(nil, orphan), sliceEv(orphan, updSlice(orphan, withServiceLabel("b")))},
			want:  map[types.NamespacedName][]string{b: {"orphan"}},
		},
		{
			name:  "delete",
			steps: []step{sliceEv(nil, a1), sliceEv(nil, a2), sliceEv(a1, nil), sliceEv(a2, nil)},
			want:  map[types.NamespacedName][]string{a: nil},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil)
			for _, s := range tc.steps {
				s(tr)
			}
			got := map[types.NamespacedName][]string{}
			for svc := range tc.want {
				got[svc] = sliceNames(tr.Store(), svc)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("EndpointSlices mismatch (-want +got):\n%s", diff)
			}
			if n := len(tr.Store().byService[a]); tc.want[a] == nil && n != 0 {
				t.Errorf("empty index for %v kept (%d entries)", a, n)
			}
		})
	}
}

func TestStoreServicesAndNode(t *testing.T) {
	tr := New(nil)
	st := tr.Store()
	if got := st.ServiceNames(); len(got) != 0 {
		t.Fatalf("ServiceNames() on empty store = %v", got)
	}
	for _, n := range [][2]string{{"z", "c"}, {"a", "b"}, {"z", "a"}, {"a", "a"}} {
		tr.OnService(nil, makeService(n[0], n[1]))
	}
	want := []types.NamespacedName{nn("a", "a"), nn("a", "b"), nn("z", "a"), nn("z", "c")}
	got := st.ServiceNames()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ServiceNames() mismatch (-want +got):\n%s", diff)
	}
	got[0] = nn("x", "x") // the caller's copy
	tr.OnService(makeService("a", "b"), nil)
	tr.OnService(nil, makeService("m", "m"))
	tr.OnService(makeService("z", "a"), updService(makeService("z", "a")))
	want = []types.NamespacedName{nn("a", "a"), nn("m", "m"), nn("z", "a"), nn("z", "c")}
	if diff := cmp.Diff(want, st.ServiceNames()); diff != "" {
		t.Errorf("ServiceNames() after add/delete mismatch (-want +got):\n%s", diff)
	}
	if st.Service(nn("a", "b")) != nil {
		t.Error("deleted service still returned")
	}
	if s := st.Service(nn("z", "a")); s == nil || s.ResourceVersion != "2" {
		t.Errorf("Service(z/a) = %v, want the updated object", s)
	}

	if st.Node() != nil {
		t.Error("Node() before any node event is not nil")
	}
	n := makeNode("n1")
	tr.OnNode(nil, n)
	if st.Node() != n {
		t.Error("Node() is not the added node")
	}
	tr.OnNode(n, nil)
	if st.Node() != nil {
		t.Error("Node() after delete is not nil")
	}
}
