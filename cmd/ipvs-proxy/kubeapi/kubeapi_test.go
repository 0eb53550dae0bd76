package kubeapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// server is a stand-in API server on 127.0.0.1 that answers every request
// with the JSON of its route and records what it was asked.
type server struct {
	mu     sync.Mutex
	asked  []string
	bodies map[string]string
	routes map[string]runtime.Object
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	key := r.Method + " " + r.URL.Path
	s.asked = append(s.asked, key+"?"+r.URL.RawQuery)
	s.bodies[key] = string(body)
	obj := s.routes[key]
	s.mu.Unlock()
	if obj == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(obj)
}

func start(t *testing.T, routes map[string]runtime.Object) (*server, *Client) {
	s := &server{routes: routes, bodies: map[string]string{}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := New(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// TestListWatchAsksTheRightPaths: each kind is listed from its group's
// path in all namespaces with the caller's selectors, and decoded into the
// typed list the informers expect.
func TestListWatchAsksTheRightPaths(t *testing.T) {
	svcs := &v1.ServiceList{TypeMeta: metav1.TypeMeta{Kind: "ServiceList", APIVersion: "v1"},
		Items: []v1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}}}
	slices := &discovery.EndpointSliceList{TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
		Items: []discovery.EndpointSlice{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1"}}}}
	nodes := &v1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		Items: []v1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}}}
	s, c := start(t, map[string]runtime.Object{
		"GET /api/v1/services": svcs, "GET /apis/discovery.k8s.io/v1/endpointslices": slices, "GET /api/v1/nodes": nodes})
	sel := func(o *metav1.ListOptions) { o.LabelSelector = "a=b" }
	for _, tc := range []struct {
		res  Resource
		want runtime.Object
	}{{Services, svcs}, {EndpointSlices, slices}, {Nodes, nodes}} {
		got, err := c.ListWatch(tc.res, sel).List(metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.res, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreTypes(metav1.TypeMeta{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.res, diff)
		}
	}
	want := []string{"GET /api/v1/services?labelSelector=a%3Db", "GET /apis/discovery.k8s.io/v1/endpointslices?labelSelector=a%3Db",
		"GET /api/v1/nodes?labelSelector=a%3Db"}
	if diff := cmp.Diff(want, s.asked); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestEventsGoToTheirNamespace: the recorder's sink creates, updates and
// patches core/v1 events in the event's own namespace.
func TestEventsGoToTheirNamespace(t *testing.T) {
	ev := &v1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bad.1"}, Reason: "InvalidForProxy"}
	s, c := start(t, map[string]runtime.Object{"POST /api/v1/namespaces/shop/events": ev,
		"PUT /api/v1/namespaces/shop/events/bad.1": ev, "PATCH /api/v1/namespaces/shop/events/bad.1": ev})
	sink := c.Events()
	for name, call := range map[string]func() (*v1.Event, error){
		"create": func() (*v1.Event, error) { return sink.Create(ev) },
		"update": func() (*v1.Event, error) { return sink.Update(ev) },
		"patch":  func() (*v1.Event, error) { return sink.Patch(ev, []byte(`{"count":2}`)) },
	} {
		got, err := call()
		if err != nil || got.Reason != "InvalidForProxy" {
			t.Errorf("%s: got %v, %v", name, got, err)
		}
	}
	if b := s.bodies["PATCH /api/v1/namespaces/shop/events/bad.1"]; b != `{"count":2}` {
		t.Errorf("patch body %q", b)
	}
	var posted v1.Event
	if err := json.Unmarshal([]byte(s.bodies["POST /api/v1/namespaces/shop/events"]), &posted); err != nil || posted.Reason != ev.Reason {
		t.Errorf("posted %q (%v)", s.bodies["POST /api/v1/namespaces/shop/events"], err)
	}
}

// TestQPSBoundsTheWholeClient: --kube-api-qps and --kube-api-burst limit
// the client as a whole (one token bucket for both API groups), as in
// kube-proxy.
func TestQPSBoundsTheWholeClient(t *testing.T) {
	c, err := New(&rest.Config{Host: "http://127.0.0.1:1", QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	core, disc := c.core.GetRateLimiter(), c.discovery.GetRateLimiter()
	if core == nil || core != disc {
		t.Errorf("rate limiters %p and %p, want one shared", core, disc)
	}
	if _, err := New(&rest.Config{Host: "http://127.0.0.1:1", QPS: 5}); err == nil {
		t.Error("QPS without burst accepted")
	}
}
