package tracker

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

func TestTrackerCounts(t *testing.T) {
	tr := New(nil)
	known(tr)
	first := tr.Take()
	if first.ServiceUpdates != 2 || first.EndpointUpdates != 2 {
		t.Errorf("initial list counts = (%d, %d), want (2, 2)", first.ServiceUpdates, first.EndpointUpdates)
	}
	// Every event counts, no-ops included, as kube-proxy counts them.
	tr.OnService(svcA, updService(svcA))
	tr.OnService(svcB, nil)
	tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(updSlice(sliceA)))
	tr.OnEndpointSlice(proxier.NewSlice(sliceB), proxier.NewSlice(updSlice(sliceB, func(s *discovery.EndpointSlice) { s.Endpoints = nil })))
	tr.OnEndpointSlice(nil, proxier.NewSlice(makeSlice("ns", "c-1", "c")))
	got := tr.Take()
	if got.ServiceUpdates != 2 || got.EndpointUpdates != 3 {
		t.Errorf("counts = (%d, %d), want (2, 3)", got.ServiceUpdates, got.EndpointUpdates)
	}
	if again := tr.Take(); again.ServiceUpdates != 0 || again.EndpointUpdates != 0 {
		t.Errorf("counts after Take = (%d, %d), want (0, 0)", again.ServiceUpdates, again.EndpointUpdates)
	}
}

func TestTrackerTriggerTimes(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	t1, t2, t3 := start.Add(time.Second), start.Add(2*time.Second), start.Add(3*time.Second)
	before := start.Add(-time.Hour)
	a, b := nn("ns", "a"), nn("ns", "b")
	changeEP := func(addr string) func(*discovery.EndpointSlice) {
		return func(s *discovery.EndpointSlice) { s.Endpoints[0].Addresses[0] = addr }
	}

	cases := []struct {
		name  string
		steps func(tr *Tracker)
		want  map[types.NamespacedName][]time.Time
	}{
		{
			name: "each changing update keeps its time",
			steps: func(tr *Tracker) {
				s1 := updSlice(sliceA, changeEP("198.18.200.2"), withTrigger(t1))
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(s1))
				tr.OnEndpointSlice(proxier.NewSlice(s1), proxier.NewSlice(updSlice(s1, changeEP("198.18.200.3"), withTrigger(t2))))
				tr.OnEndpointSlice(nil, proxier.NewSlice(makeSlice("ns", "b-2", "b", withTrigger(t3))))
			},
			want: map[types.NamespacedName][]time.Time{a: {t1, t2}, b: {t3}},
		},
		{
			name: "a change only in the annotation is no change and no time",
			steps: func(tr *Tracker) {
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(updSlice(sliceA, withTrigger(t1))))
			},
			want: map[types.NamespacedName][]time.Time{},
		},
		{
			name: "a no-op update on a pending slice adds no time",
			steps: func(tr *Tracker) {
				s1 := updSlice(sliceA, changeEP("198.18.200.2"), withTrigger(t1))
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(s1))
				tr.OnEndpointSlice(proxier.NewSlice(s1), proxier.NewSlice(updSlice(s1, withTrigger(t2))))
			},
			want: map[types.NamespacedName][]time.Time{a: {t1}},
		},
		{
			name: "times from before the tracker started are ignored",
			steps: func(tr *Tracker) {
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(updSlice(sliceA, changeEP("198.18.200.2"), withTrigger(before))))
			},
			want: map[types.NamespacedName][]time.Time{},
		},
		{
			name: "deletes record no time",
			steps: func(tr *Tracker) {
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), nil)
				tr.OnEndpointSlice(nil, proxier.NewSlice(makeSlice("ns", "b-2", "b", withTrigger(t1))))
				tr.OnEndpointSlice(proxier.NewSlice(updSlice(sliceB, withTrigger(t2))), nil)
			},
			want: map[types.NamespacedName][]time.Time{b: {t1}},
		},
		{
			name: "a reverted change reports no time",
			steps: func(tr *Tracker) {
				s1 := updSlice(sliceA, changeEP("198.18.200.2"), withTrigger(t1))
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(s1))
				tr.OnEndpointSlice(proxier.NewSlice(s1), proxier.NewSlice(updSlice(s1, changeEP("198.18.200.1"), withTrigger(t2))))
			},
			want: map[types.NamespacedName][]time.Time{},
		},
		{
			name: "invalid annotation is ignored",
			steps: func(tr *Tracker) {
				tr.OnEndpointSlice(proxier.NewSlice(sliceA), proxier.NewSlice(updSlice(sliceA, changeEP("198.18.200.2"), func(s *discovery.EndpointSlice) {
					s.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "yesterday"}
				})))
			},
			want: map[types.NamespacedName][]time.Time{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil)
			tr.start = start
			known(tr)
			tr.Take()
			tc.steps(tr)
			got := tr.Take()
			if diff := cmp.Diff(tc.want, got.TriggerTimes); diff != "" {
				t.Errorf("TriggerTimes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerSynced(t *testing.T) {
	notified := 0
	tr := New(func() { notified++ })
	if tr.Synced() {
		t.Fatal("Synced() = true before anything was listed")
	}
	tr.SetSynced(Services)
	tr.SetSynced(Node)
	tr.SetSynced(Services) // repeated: no effect
	if tr.Synced() {
		t.Fatal("Synced() = true without EndpointSlices")
	}
	if notified != 0 {
		t.Fatalf("notify called %d times before all kinds synced, want 0", notified)
	}
	tr.SetSynced(EndpointSlices)
	if !tr.Synced() {
		t.Fatal("Synced() = false after all kinds listed")
	}
	if notified != 1 {
		t.Errorf("notify called %d times when the last kind synced, want 1", notified)
	}
	tr.SetSynced(Node)
	if notified != 1 {
		t.Errorf("notify called again after already synced: %d", notified)
	}
	if got := Kind(7).String(); got != "Kind(?)" {
		t.Errorf("Kind(7).String() = %q", got)
	}
	tr.SetSynced(Kind(7)) // ignored, no panic
}

// TestTrackerEventsBeforeSync shows the gate does not lose events: what
// arrives before Synced is pending once it is.
func TestTrackerEventsBeforeSync(t *testing.T) {
	tr := New(nil)
	known(tr)
	tr.SetSynced(Services)
	tr.SetSynced(EndpointSlices)
	tr.SetSynced(Node)
	got := tr.Take()
	want := []types.NamespacedName{nn("ns", "a"), nn("ns", "b")}
	if diff := cmp.Diff(want, got.Services); diff != "" || !got.Node {
		t.Errorf("Take() after sync: Node=%v, Services mismatch (-want +got):\n%s", got.Node, diff)
	}
}
