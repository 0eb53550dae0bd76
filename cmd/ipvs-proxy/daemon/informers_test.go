package daemon

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// TestSlimObjectsKeepsWhatBuildReads: the informer transform makes a
// slice the proxier.Slice of the same slice without the fields the proxy
// never reads, shares node names between slices, is idempotent (client-go
// applies it twice to a watch-list's objects), and drops managed fields
// and kubectl's copy from the other objects.
func TestSlimObjectsKeepsWhatBuildReads(t *testing.T) {
	ep := k8stest.Endpoint("198.18.10.1", k8stest.OnNode("node-a"), k8stest.ZoneHint("zone-a"))
	ep.Zone = new("zone-a")
	clean := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep})
	clean.Annotations = map[string]string{v1.EndpointsLastChangeTriggerTime: "2026-11-26T00:00:00Z"}
	clean.ResourceVersion = "42"

	full := clean.DeepCopy()
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
	full.OwnerReferences = []metav1.OwnerReference{{Kind: "Service", Name: "web"}}
	full.Annotations[lastApplied] = `{"kind":"EndpointSlice"}`
	full.Labels["app"] = "web"
	e := &full.Endpoints[0]
	e.TargetRef = &v1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "web-7d4f9", UID: "0b1c"}
	e.Hostname = new("web-7d4f9")
	e.DeprecatedTopology = map[string]string{"kubernetes.io/hostname": "node-a"}
	got, err := slimObjects(full)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(proxier.NewSlice(clean), got); diff != "" {
		t.Errorf("cached slice (-want +got):\n%s", diff)
	}
	if again, err := slimObjects(got); err != nil || again != got {
		t.Errorf("slimObjects(its own result) = %p, %v; want the same %p", again, err, got)
	}

	other := k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.2", k8stest.OnNode("node-a"))})
	otherGot, err := slimObjects(other)
	if err != nil {
		t.Fatal(err)
	}
	a, b := got.(*proxier.Slice).Endpoints[0], otherGot.(*proxier.Slice).Endpoints[0]
	if a.NodeName != b.NodeName {
		t.Errorf("node name not shared: %p %p", a.NodeName, b.NodeName)
	}

	svc := k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "mh", lastApplied, "{}"))
	svc.Spec.Selector = map[string]string{"app": "web"}
	want := svc.DeepCopy()
	want.Annotations, want.Spec.Selector = map[string]string{"ipvs-proxy.io/scheduler": "mh"}, nil
	if _, err := slimObjects(svc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, svc); diff != "" {
		t.Errorf("cached service (-want +got):\n%s", diff)
	}
}

// TestInformerDeliversSliceChanges: with the cache holding proxier.Slice
// objects, an endpoint change, a second slice and a deletion all reach the
// tracker (client-go drops an update whose resource version it cannot
// tell from the cached one's as a resync).
func TestInformerDeliversSliceChanges(t *testing.T) {
	cs := fake.NewClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, k8stest.Service("ns", "web"),
		k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	d := &daemon{cfg: Config{NodeName: "node-a"}, deps: Deps{Client: kubeapitest.FromClientset(cs)}, tracker: tracker.New(nil)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := d.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	web := types.NamespacedName{Namespace: "ns", Name: "web"}
	await := func(what string, want ...string) {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			got = got[:0]
			for _, sl := range d.tracker.Store().EndpointSlices(web) {
				for _, e := range sl.Endpoints {
					got = append(got, sl.Name+" "+e.Address)
				}
			}
			if slices.Equal(got, want) {
				return
			}
		}
		t.Fatalf("%s: the tracker holds %q, want %q", what, got, want)
	}
	await("listed", "web-1 198.18.10.1")

	slc := cs.DiscoveryV1().EndpointSlices("ns")
	upd := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.2")})
	upd.ResourceVersion = "2"
	if _, err := slc.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	await("updated", "web-1 198.18.10.2")
	if _, err := slc.Create(ctx, k8stest.Slice("ns", "web", "web-2", []discovery.Endpoint{k8stest.Endpoint("198.18.10.3")}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	await("second slice", "web-1 198.18.10.2", "web-2 198.18.10.3")
	if err := slc.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	await("deleted", "web-2 198.18.10.3")
}

// TestTrackerSyncedOnlyAfterEveryListedObjectWasHandled: the first sync may
// start once the tracker is synced, so by then our handler must have been
// given every listed object, however slow it is (the informer's own
// HasSynced is true as soon as its store is filled).
func TestTrackerSyncedOnlyAfterEveryListedObjectWasHandled(t *testing.T) {
	const n = 200
	objs := []kruntime.Object{&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}}
	for i := range n {
		objs = append(objs, k8stest.Service("ns", fmt.Sprintf("svc-%d", i)))
	}
	prev := wrapHandler
	wrapHandler = func(on func(prev, cur any)) func(prev, cur any) {
		return func(p, c any) { time.Sleep(time.Millisecond); on(p, c) }
	}
	defer func() { wrapHandler = prev }()
	d := &daemon{cfg: Config{NodeName: "node-a"}, deps: Deps{Client: kubeapitest.FromClientset(fake.NewClientset(objs...))}, tracker: tracker.New(nil)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := d.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !d.tracker.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("tracker not synced after 30s")
		}
		time.Sleep(time.Millisecond)
	}
	if got := len(d.tracker.Store().ServiceNames()); got != n {
		t.Errorf("tracker synced with %d of %d services handled", got, n)
	}
}

// TestInternerForgetsUnreferencedValues: node names that no cached object
// refers to any more leave the interner (churn of random node names must
// not grow it), and a value still referred to stays shared.
func TestInternerForgetsUnreferencedValues(t *testing.T) {
	const n = 10000
	in := newInterner()
	kept := internMany(t, in, n, 7)
	deadline := time.Now().Add(10 * time.Second)
	for in.size() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("size = %d after the values were dropped, want 1 (the one still referred to)", in.size())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	later := fmt.Sprintf("node-%d", 7)
	if in.str(&later) != kept {
		t.Error("a value still referred to is no longer shared")
	}
	runtime.KeepAlive(kept)
}

// internMany interns n distinct node names, checks they are shared while
// referred to, and returns the one numbered keep: the others are garbage
// once it returns.
func internMany(t *testing.T, in *interner, n, keep int) *string {
	values := make([]*string, n)
	for i := range n {
		s := fmt.Sprintf("node-%d", i)
		values[i] = in.str(&s)
	}
	again := fmt.Sprintf("node-%d", keep)
	if in.str(&again) != values[keep] {
		t.Fatal("a value interned twice is not shared")
	}
	if got := in.size(); got != n {
		t.Fatalf("size = %d, want %d", got, n)
	}
	return values[keep]
}
