// Package kubeapi is the daemon's access to the API server: list-and-watch
// of the three kinds it reads (Services, EndpointSlices, Nodes) and a sink
// for the events it writes, on REST clients whose scheme knows only core/v1
// and discovery.k8s.io/v1.
//
// client-go's generated clientset registers every API group in its scheme
// at start-up and links all their types, clients and apply configurations:
// the daemon does not use them, and they made the binary 34 MB and added
// about 9 MB of resident pages before the first object was read. Informers
// are built from these ListerWatchers by the daemon (cache.NewSharedIndexInformer).
package kubeapi

import (
	"context"
	"fmt"
	"net/http"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
)

// Resource names the kinds the daemon reads.
type Resource string

const (
	Services       Resource = "services"
	EndpointSlices Resource = "endpointslices"
	Nodes          Resource = "nodes"
)

// Interface is what the daemon needs from the API server.
type Interface interface {
	// ListWatch lists and watches resource in all namespaces; tweak
	// adjusts the options of every list and watch (selectors).
	ListWatch(resource Resource, tweak func(*metav1.ListOptions)) cache.ListerWatcher
	// Events is where the daemon's event recorder writes.
	Events() record.EventSink
}

// Scheme knows the daemon's kinds, their lists and the meta/v1 types of
// list options and watch events; events are recorded with it.
var Scheme = runtime.NewScheme()

func init() {
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{v1.AddToScheme, discovery.AddToScheme} {
		if err := add(Scheme); err != nil {
			panic(fmt.Sprintf("registering API types: %v", err))
		}
	}
}

// Client implements Interface with one REST client per API group, sharing
// one HTTP client (one connection) as client-go's clientset does.
type Client struct {
	core, discovery rest.Interface
}

// New builds the clients from rc (its content types, QPS, burst and user
// agent are kept).
func New(rc *rest.Config) (*Client, error) {
	rc = rest.CopyConfig(rc)
	if rc.RateLimiter == nil && rc.QPS > 0 {
		// One limiter for both groups, as the clientset shares one: the
		// --kube-api-qps and --kube-api-burst of kube-proxy bound the
		// whole client, not each API group.
		if rc.Burst <= 0 {
			return nil, fmt.Errorf("kube-api-burst must be positive with kube-api-qps %v", rc.QPS)
		}
		rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, rc.Burst)
	}
	httpClient, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("building the API HTTP client: %w", err)
	}
	core, err := restClient(rc, httpClient, v1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	disc, err := restClient(rc, httpClient, discovery.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &Client{core: core, discovery: disc}, nil
}

var codecs = serializer.NewCodecFactory(Scheme)

func restClient(rc *rest.Config, h *http.Client, gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
	c := *rc
	c.GroupVersion, c.APIPath = &gv, apiPath
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rcl, err := rest.RESTClientForConfigAndClient(&c, h)
	if err != nil {
		return nil, fmt.Errorf("building the API client for %s: %w", gv, err)
	}
	return rcl, nil
}

// ListWatch implements Interface.
func (c *Client) ListWatch(resource Resource, tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	g := c.core
	if resource == EndpointSlices {
		g = c.discovery
	}
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	return cache.NewFilteredListWatchFromClient(g, string(resource), metav1.NamespaceAll, tweak)
}

// Events implements Interface.
func (c *Client) Events() record.EventSink { return eventSink{c.core} }

// eventSink writes core/v1 events in their own namespaces, as client-go's
// EventSinkImpl does.
type eventSink struct{ c rest.Interface }

func (s eventSink) Create(e *v1.Event) (*v1.Event, error) {
	out := &v1.Event{}
	err := s.c.Post().Namespace(e.Namespace).Resource("events").Body(e).Do(context.Background()).Into(out)
	return out, err
}

func (s eventSink) Update(e *v1.Event) (*v1.Event, error) {
	out := &v1.Event{}
	err := s.c.Put().Namespace(e.Namespace).Resource("events").Name(e.Name).Body(e).Do(context.Background()).Into(out)
	return out, err
}

func (s eventSink) Patch(e *v1.Event, data []byte) (*v1.Event, error) {
	out := &v1.Event{}
	err := s.c.Patch(types.StrategicMergePatchType).Namespace(e.Namespace).Resource("events").Name(e.Name).
		Body(data).Do(context.Background()).Into(out)
	return out, err
}
