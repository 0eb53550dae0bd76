// Package kubeapitest adapts a client-go clientset (usually the fake one)
// to kubeapi.Interface, for tests. It links the whole clientset, which the
// daemon's binary must not: import it from tests only.
package kubeapitest

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
)

// FromClientset returns c as a kubeapi.Interface.
func FromClientset(c kubernetes.Interface) kubeapi.Interface { return clientset{c} }

type clientset struct{ c kubernetes.Interface }

type lister interface {
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}

func (cs clientset) ListWatch(resource kubeapi.Resource, tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	var list func(context.Context, metav1.ListOptions) (runtime.Object, error)
	var w lister
	switch resource {
	case kubeapi.Services:
		s := cs.c.CoreV1().Services(metav1.NamespaceAll)
		list, w = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return s.List(ctx, o) }, s
	case kubeapi.EndpointSlices:
		s := cs.c.DiscoveryV1().EndpointSlices(metav1.NamespaceAll)
		list, w = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return s.List(ctx, o) }, s
	default:
		s := cs.c.CoreV1().Nodes()
		list, w = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return s.List(ctx, o) }, s
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return w.Watch(ctx, o)
		},
	}
	// The fake clientset says it cannot stream a watch list; the informer
	// then lists, as client-go's generated informers do with it.
	return cache.ToListWatcherWithWatchListSemantics(lw, cs.c)
}

func (cs clientset) Events() record.EventSink {
	return &typedcorev1.EventSinkImpl{Interface: cs.c.CoreV1().Events("")}
}
