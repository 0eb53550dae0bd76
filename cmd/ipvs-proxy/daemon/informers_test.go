package daemon

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// TestStripUnusedKeepsWhatBuildReads: the informer transform drops what
// the proxy never reads and nothing Build or the tracker use.
func TestStripUnusedKeepsWhatBuildReads(t *testing.T) {
	ep := k8stest.Endpoint("198.18.10.1", k8stest.OnNode("node-a"), k8stest.ZoneHint("zone-a"))
	ep.Zone = new("zone-a")
	want := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{ep})
	want.Annotations = map[string]string{v1.EndpointsLastChangeTriggerTime: "2026-11-26T00:00:00Z"}

	got := want.DeepCopy()
	got.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
	got.OwnerReferences = []metav1.OwnerReference{{Kind: "Service", Name: "web"}}
	got.Annotations[lastApplied] = `{"kind":"EndpointSlice"}`
	e := &got.Endpoints[0]
	e.TargetRef = &v1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "web-7d4f9", UID: "0b1c"}
	e.Hostname = new("web-7d4f9")
	e.DeprecatedTopology = map[string]string{"kubernetes.io/hostname": "node-a"}
	if _, err := stripUnused(got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stripped slice (-want +got):\n%s", diff)
	}

	// Node names, zones and conditions are shared between cached objects.
	other := k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.2", k8stest.OnNode("node-a"))})
	if _, err := stripUnused(other); err != nil {
		t.Fatal(err)
	}
	a, b := got.Endpoints[0], other.Endpoints[0]
	if a.NodeName != b.NodeName || a.Conditions.Ready != b.Conditions.Ready {
		t.Errorf("node name and ready condition not shared: %p %p, %p %p", a.NodeName, b.NodeName, a.Conditions.Ready, b.Conditions.Ready)
	}

	svc := k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "mh", lastApplied, "{}"))
	if _, err := stripUnused(svc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ipvs-proxy.io/scheduler": "mh"}; !cmp.Equal(svc.Annotations, want) {
		t.Errorf("service annotations %v, want %v", svc.Annotations, want)
	}
}

// TestStripUnusedSizesTheEndpointsArray: a slice decoded from protobuf, as
// the informers receive it, keeps its endpoints in an array grown by
// appending; the cached copy must hold them in one of their size, unchanged.
func TestStripUnusedSizesTheEndpointsArray(t *testing.T) {
	var eps []discovery.Endpoint
	for i := range 10 {
		eps = append(eps, k8stest.Endpoint(fmt.Sprintf("198.18.10.%d", i+1), k8stest.OnNode("node-a")))
	}
	data, err := k8stest.Slice("ns", "web", "web-1", eps).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := &discovery.EndpointSlice{}
	if err := got.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	if cap(got.Endpoints) == len(got.Endpoints) {
		t.Fatalf("decoded endpoints have capacity %d for %d: the decoder no longer over-allocates, this test proves nothing",
			cap(got.Endpoints), len(got.Endpoints))
	}
	want := got.DeepCopy()
	if _, err := stripUnused(got); err != nil {
		t.Fatal(err)
	}
	if cap(got.Endpoints) != len(got.Endpoints) {
		t.Errorf("cached endpoints have capacity %d for %d, want %d", cap(got.Endpoints), len(got.Endpoints), len(got.Endpoints))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stripped slice (-want +got):\n%s", diff)
	}
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
