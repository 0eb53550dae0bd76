package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

func svcName(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "shop", Name: name}
}

// problem is a problem of service name's own Service object.
func problem(name, msg string) proxier.Problem {
	return proxier.Problem{Kind: "Service", Namespace: "shop", Name: name, Service: svcName(name), Message: msg}
}

// sliceProblem is a problem of one of service name's EndpointSlices.
func sliceProblem(name, msg string) proxier.Problem {
	return proxier.Problem{Kind: "EndpointSlice", Namespace: "shop", Name: name + "-1", Service: svcName(name), Message: msg}
}

func rebuilt(problems []proxier.Problem, names ...string) reconcile.Result {
	res := reconcile.Result{Problems: problems}
	for _, n := range names {
		res.Rebuilt = append(res.Rebuilt, svcName(n))
	}
	return res
}

// newTestEvents returns problemEvents recording into a fake recorder.
func newTestEvents() (*problemEvents, *record.FakeRecorder) {
	rec := record.NewFakeRecorder(1000)
	return &problemEvents{recorder: rec, metrics: metrics.New(), seen: map[types.NamespacedName]map[objectRef]string{}}, rec
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestProblemEventsReportEachProblemOnce walks one engine's results
// through a service's life: a problem is reported when it appears or its
// message changes, never again while unchanged, and a service rebuilt
// without problems (fixed or deleted) is forgotten.
func TestProblemEventsReportEachProblemOnce(t *testing.T) {
	p, rec := newTestEvents()
	steps := []struct {
		name    string
		res     reconcile.Result
		changed []string
		want    []string
		seen    []string // services remembered after the step
	}{
		{name: "a problem appears", res: rebuilt([]proxier.Problem{problem("web", "bad scheduler")}, "web", "api"),
			want: []string{"Warning InvalidForProxy bad scheduler"}, seen: []string{"web"}},
		{name: "unchanged: not reported again", res: rebuilt([]proxier.Problem{problem("web", "bad scheduler")}, "web"),
			seen: []string{"web"}},
		{name: "a sync that did not rebuild it", res: rebuilt(nil, "api"), seen: []string{"web"}},
		{name: "message changed: reported", res: rebuilt([]proxier.Problem{problem("web", "bad timeout")}, "web"),
			want: []string{"Warning InvalidForProxy bad timeout"}, seen: []string{"web"}},
		{name: "a second problem of the object: one message, sorted",
			res:  rebuilt([]proxier.Problem{problem("web", "bad timeout"), problem("web", "bad port")}, "web"),
			want: []string{"Warning InvalidForProxy bad port; bad timeout"}, seen: []string{"web"}},
		{name: "same problems found in another order: not reported",
			res:  rebuilt([]proxier.Problem{problem("web", "bad port"), problem("web", "bad timeout")}, "web"),
			seen: []string{"web"}},
		{name: "a problem of its slice: reported, the service's kept",
			res:  rebuilt([]proxier.Problem{problem("web", "bad port"), problem("web", "bad timeout"), sliceProblem("web", "bad address")}, "web"),
			want: []string{"Warning InvalidForProxy bad address"}, seen: []string{"web"}},
		{name: "fixed: forgotten", res: rebuilt(nil, "web")},
		{name: "broken again: reported again", res: rebuilt([]proxier.Problem{problem("web", "bad timeout")}, "web"),
			want: []string{"Warning InvalidForProxy bad timeout"}, seen: []string{"web"}},
		// A rebuild of everything lists the services that exist: a deleted
		// one is only among the changed services.
		{name: "deleted during a rebuild of everything: forgotten", res: rebuilt(nil, "api"), changed: []string{"web"}},
	}
	for _, step := range steps {
		var changed []types.NamespacedName
		for _, n := range step.changed {
			changed = append(changed, svcName(n))
		}
		p.report(t.Context(), step.res, changed)
		if diff := cmp.Diff(step.want, drain(rec)); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", step.name, diff)
		}
		var seen []string
		for name := range p.seen {
			seen = append(seen, name.Name)
		}
		if diff := cmp.Diff(step.seen, seen); diff != "" {
			t.Errorf("%s: services remembered (-want +got):\n%s", step.name, diff)
		}
	}
}

// TestProblemEventsMemoryBounded: churn of many invalid services, later
// fixed or deleted, leaves nothing behind.
func TestProblemEventsMemoryBounded(t *testing.T) {
	const n = 10000
	p, rec := newTestEvents()
	for batch := 0; batch < n; batch += 100 {
		var res reconcile.Result
		for i := batch; i < batch+100; i++ {
			name := fmt.Sprintf("svc-%d", i)
			res.Problems = append(res.Problems, problem(name, "bad scheduler"))
			res.Rebuilt = append(res.Rebuilt, svcName(name))
		}
		p.report(t.Context(), res, nil)
		drain(rec)
	}
	if len(p.seen) != n {
		t.Fatalf("%d services remembered, want %d", len(p.seen), n)
	}
	for i := range n {
		name := svcName(fmt.Sprintf("svc-%d", i))
		if i%2 == 0 {
			p.report(t.Context(), reconcile.Result{Rebuilt: []types.NamespacedName{name}}, nil) // fixed
		} else {
			p.report(t.Context(), reconcile.Result{}, []types.NamespacedName{name}) // deleted during a full rebuild
		}
	}
	if len(p.seen) != 0 {
		t.Errorf("%d services still remembered after all were fixed or deleted", len(p.seen))
	}
}

// TestEventName: the name depends on what the event says, not on the
// node or the time, and is always a valid object name.
func TestEventName(t *testing.T) {
	base := func(mut ...func(*v1.Event)) *v1.Event {
		e := &v1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.1850c2d6b7a3f0e1", Namespace: "shop"},
			InvolvedObject: v1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: "shop", Name: "web"},
			Type:           v1.EventTypeWarning, Reason: "InvalidForProxy", Message: "bad scheduler",
			Source:         v1.EventSource{Component: "ipvs-proxy"},
			FirstTimestamp: metav1.Unix(100, 0), LastTimestamp: metav1.Unix(100, 0), Count: 1,
		}
		for _, m := range mut {
			m(e)
		}
		return e
	}
	want := eventName(base())
	same := map[string]*v1.Event{
		"another node": base(func(e *v1.Event) { e.Source.Host = "node-b"; e.ReportingInstance = "node-b" }),
		"another time": base(func(e *v1.Event) {
			e.Name, e.FirstTimestamp, e.LastTimestamp, e.Count = "web.1850c2d6b7a3ffff", metav1.Unix(200, 0), metav1.Unix(300, 0), 4
		}),
	}
	for name, e := range same {
		if got := eventName(e); got != want {
			t.Errorf("%s: name %q, want %q", name, got, want)
		}
	}
	different := map[string]*v1.Event{
		"another message": base(func(e *v1.Event) { e.Message = "bad timeout" }),
		"another reason":  base(func(e *v1.Event) { e.Reason = "Other" }),
		"another kind":    base(func(e *v1.Event) { e.InvolvedObject.Kind = "EndpointSlice" }),
		"another object":  base(func(e *v1.Event) { e.InvolvedObject.Name = "api" }),
		"another ns":      base(func(e *v1.Event) { e.InvolvedObject.Namespace = "other" }),
		"fields shifted":  base(func(e *v1.Event) { e.Reason, e.Message = "InvalidForProxyb", "ad scheduler" }),
	}
	for name, e := range different {
		if got := eventName(e); got == want {
			t.Errorf("%s: same name %q", name, got)
		}
	}
	if !strings.HasPrefix(want, "web.") {
		t.Errorf("name %q does not start with the object's name", want)
	}
	long := base(func(e *v1.Event) { e.InvolvedObject.Name = strings.Repeat("a", 200) + "-" + strings.Repeat("b", 52) })
	for _, e := range []*v1.Event{base(), long} {
		if errs := validation.IsDNS1123Subdomain(eventName(e)); len(errs) > 0 {
			t.Errorf("name %q: %v", eventName(e), errs)
		}
	}
}

// TestProblemEventsOneEventForAllNodes: the proxies of two nodes report
// the same problem through client-go's recorder into one API: one Event,
// with no node in it; the second create is refused and dropped. A repeat
// on the node whose create was refused is patched onto that Event.
func TestProblemEventsOneEventForAllNodes(t *testing.T) {
	client := fake.NewClientset()
	var mu sync.Mutex
	creates := 0
	client.PrependReactor("create", "events", func(clienttesting.Action) (bool, kruntime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		creates++
		return false, nil, nil
	})
	createCalls := func() int { mu.Lock(); defer mu.Unlock(); return creates }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := newProblemEvents(ctx, kubeapitest.FromClientset(client), metrics.New())
	defer first.stop()
	second := newProblemEvents(ctx, kubeapitest.FromClientset(client), metrics.New())
	defer second.stop()

	bad := rebuilt([]proxier.Problem{problem("web", "bad scheduler")}, "web")
	first.report(ctx, bad, nil)
	events := waitEvents(t, client, func(evs []v1.Event) bool { return len(evs) == 1 })
	second.report(ctx, bad, nil)
	waitFor(t, func() bool { return createCalls() == 2 }, func() string { return fmt.Sprintf("%d creates", createCalls()) })
	events = waitEvents(t, client, func([]v1.Event) bool { return true })
	if len(events) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(events), events)
	}
	e := events[0]
	if e.Source.Host != "" || e.ReportingInstance != "" || e.Count != 1 || e.Message != "bad scheduler" {
		t.Errorf("event = source %+v, instance %q, count %d, message %q; want no host, count 1", e.Source, e.ReportingInstance, e.Count, e.Message)
	}

	// Fixed, then broken again the same way: the second node reports it
	// again, a patch of the Event the first one created.
	second.report(ctx, rebuilt(nil, "web"), nil)
	second.report(ctx, bad, nil)
	events = waitEvents(t, client, func(evs []v1.Event) bool { return len(evs) == 1 && evs[0].Count == 2 })
	if events[0].Name != e.Name || createCalls() != 2 {
		t.Errorf("repeat went to event %q after %d creates, want a patch of %q", events[0].Name, createCalls(), e.Name)
	}
}

func waitEvents(t *testing.T, client *fake.Clientset, done func([]v1.Event) bool) []v1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := client.CoreV1().Events("shop").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if done(list.Items) {
			return list.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; events: %+v", list.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartedEventOnNode: the start is a Normal Starting event on the Node,
// in the default namespace, as kube-proxy's.
func TestStartedEventOnNode(t *testing.T) {
	client := fake.NewClientset()
	p := newProblemEvents(t.Context(), kubeapitest.FromClientset(client), metrics.New())
	defer p.stop()
	p.started("node-1")
	var events []v1.Event
	waitFor(t, func() bool {
		list, err := client.CoreV1().Events(metav1.NamespaceDefault).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		events = list.Items
		return len(events) > 0
	}, func() string { return "no event" })
	e := events[0]
	if o := e.InvolvedObject; len(events) != 1 || o.Kind != "Node" || o.Name != "node-1" || e.Type != v1.EventTypeNormal || e.Reason != "Starting" {
		t.Errorf("events = %+v, want one Normal Starting event on Node node-1", events)
	}
}
