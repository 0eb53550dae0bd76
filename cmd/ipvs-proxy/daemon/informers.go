package daemon

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"weak"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// listFilters are kube-proxy's informer filters (cmd/kube-proxy/app/server.go):
// Services of no other proxy (with --service-proxy-name, exactly those
// carrying that name) and not headless (spec.clusterIP None); slices not
// labelled headless. A Service labelled service.kubernetes.io/headless is
// still proxied, as kube-proxy proxies it. Slices also take the proxy-name
// filter, which kube-proxy does not apply: the EndpointSlice controller
// copies a Service's labels to its slices, so this only keeps the slices
// of other proxies' services out of the cache.
func listFilters(proxyName string) (services, slices func(*metav1.ListOptions), err error) {
	op, values := selection.DoesNotExist, []string(nil)
	if proxyName != "" {
		op, values = selection.Equals, []string{proxyName}
	}
	byName, err := labels.NewRequirement(proxier.LabelServiceProxyName, op, values)
	if err != nil {
		return nil, nil, err
	}
	noHeadless, err := labels.NewRequirement(v1.IsHeadlessService, selection.DoesNotExist, nil)
	if err != nil {
		return nil, nil, err
	}
	svcLabels := labels.NewSelector().Add(*byName).String()
	notNone := fields.OneTermNotEqualSelector("spec.clusterIP", v1.ClusterIPNone).String()
	sliceLabels := labels.NewSelector().Add(*byName, *noHeadless).String()
	services = func(o *metav1.ListOptions) { o.LabelSelector, o.FieldSelector = svcLabels, notNone }
	slices = func(o *metav1.ListOptions) { o.LabelSelector = sliceLabels }
	return services, slices, nil
}

// lastApplied is kubectl's copy of the whole object as applied: often the
// largest annotation, never read by the proxy.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slimObjects is the informers' transform. Services and the Node lose
// what the proxy never reads, managed fields and kubectl's last-applied
// copy of the object, so the caches stay small at 10k+ services; a
// Service also loses its pod selector (a map of its own, about 300 bytes
// for one label: endpoints come from the slices, as in kube-proxy), so a
// selector change is no change to the proxy either. An
// EndpointSlice becomes a proxier.Slice, the fields Build reads in a
// compact form (about 1.5 KB less per slice of 10 endpoints than the
// object with those fields dropped, issue 14), its node names shared with
// every other endpoint on the same node. client-go applies the transform
// both in the watch-list's temporary store and in the informer's queue, so
// it must be idempotent: a Slice is returned as it is.
func slimObjects(obj any) (any, error) {
	switch o := obj.(type) {
	case *proxier.Slice:
		return o, nil
	case *v1.Service:
		o.Spec.Selector = nil
	case *discovery.EndpointSlice:
		for i := range o.Endpoints {
			o.Endpoints[i].NodeName = shared.str(o.Endpoints[i].NodeName)
		}
		return proxier.NewSlice(o), nil
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			delete(a, lastApplied)
		}
	}
	return obj, nil
}

// Every endpoint of a node carries its own copy of the node's name; the
// cached slices share one per node (100,000 endpoints: about 2 MB less).
var shared = newInterner()

// interner hands out one *string per distinct value: node names and zones,
// as many as the cluster has nodes. It holds its values weakly: a value
// goes from the map once no cached object refers to it, so churn of node
// names (autoscaled or replaced nodes, or random names in a slice) cannot
// grow it without bound.
type interner struct {
	mu sync.Mutex
	m  map[string]*internEntry
}

// internEntry is one value; its identity tells a cleanup whether the entry
// it was registered for is still the one in the map.
type internEntry struct{ p weak.Pointer[string] }

func newInterner() *interner { return &interner{m: map[string]*internEntry{}} }

func (in *interner) str(s *string) *string {
	if s == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if e, ok := in.m[*s]; ok {
		if p := e.p.Value(); p != nil {
			return p
		}
	}
	// s becomes the shared copy. The cleanup's argument holds the key
	// (the string's bytes, not s) and the entry, so it does not keep s
	// reachable.
	e := &internEntry{p: weak.Make(s)}
	in.m[*s] = e
	runtime.AddCleanup(s, in.forget, internKey{value: *s, entry: e})
	return s
}

// internKey names the entry a cleanup removes.
type internKey struct {
	value string
	entry *internEntry
}

// forget removes k's entry unless the value was interned again since its
// copy died (the map then holds a newer entry).
func (in *interner) forget(k internKey) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.m[k.value] == k.entry {
		delete(in.m, k.value)
	}
}

// size returns the number of values held.
func (in *interner) size() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}

// startInformers starts the Service, EndpointSlice and (this) Node
// informers without periodic resync, feeds the tracker, and marks each kind
// synced once listed. client-go's reflectors re-list with exponential
// backoff and jitter after an API-server outage; meanwhile the kernel is
// left as it is.
func (d *daemon) startInformers(ctx context.Context) error {
	services, slices, err := listFilters(d.cfg.Proxier.ServiceProxyName)
	if err != nil {
		return fmt.Errorf("building the informer filters: %w", err)
	}
	thisNode := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.cfg.NodeName).String()
	}
	api, t := d.deps.Client, d.tracker
	kinds := []struct {
		kind tracker.Kind
		inf  cache.SharedIndexInformer
		on   func(prev, cur any)
	}{
		{tracker.Services, newInformer(api.ListWatch(kubeapi.Services, services), &v1.Service{}),
			func(p, c any) { t.OnService(as[v1.Service](p), as[v1.Service](c)) }},
		{tracker.EndpointSlices, newInformer(api.ListWatch(kubeapi.EndpointSlices, slices), &discovery.EndpointSlice{}),
			func(p, c any) { t.OnEndpointSlice(as[proxier.Slice](p), as[proxier.Slice](c)) }},
		{tracker.Node, newInformer(api.ListWatch(kubeapi.Nodes, thisNode), &v1.Node{}),
			func(p, c any) { t.OnNode(as[v1.Node](p), as[v1.Node](c)) }},
	}
	// The tracker is synced when our handler has been given every listed
	// object: the registration's HasSynced. The informer's own HasSynced
	// turns true once its store is filled, while handler notifications are
	// still queued (VM, restart at 10,000 services: 3,771 services arrived
	// after it, and the first sync deleted 700 live virtual servers that it
	// did not know yet).
	synced := make([]cache.InformerSynced, len(kinds))
	for i, k := range kinds {
		if err := k.inf.SetTransform(slimObjects); err != nil {
			return err
		}
		on := wrapHandler(k.on)
		reg, err := k.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { on(nil, obj) },
			UpdateFunc: func(old, cur any) { on(old, cur) },
			DeleteFunc: func(obj any) { on(obj, nil) },
		})
		if err != nil {
			return err
		}
		synced[i] = reg.HasSynced
	}
	for i, k := range kinds {
		go k.inf.RunWithContext(ctx)
		go func() {
			if cache.WaitForCacheSync(ctx.Done(), synced[i]) {
				klog.FromContext(ctx).V(2).Info("Informer synced", "kind", k.kind.String())
				t.SetSynced(k.kind)
			}
		}()
	}
	return nil
}

// newInformer returns an informer of lw's objects with no periodic resync
// (the runner's repair reads the kernel instead).
func newInformer(lw cache.ListerWatcher, obj kruntime.Object) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{
		ObjectDescription: fmt.Sprintf("%T", obj)})
}

// wrapHandler lets tests slow the handlers down; it is the identity.
var wrapHandler = func(on func(prev, cur any)) func(prev, cur any) { return on }

// as converts an informer object, unwrapping deleted-final-state tombstones;
// nil stays nil.
func as[T any](obj any) *T {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	v, _ := obj.(*T)
	return v
}
