package tracker_test

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// Example shows informer events coalescing into the services a sync must
// rebuild.
func Example() {
	tr := tracker.New(func() { fmt.Println("notified") })
	web := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: "1"},
		Spec:       v1.ServiceSpec{ClusterIP: "198.18.100.1", Ports: []v1.ServicePort{{Port: 80}}},
	}
	tr.OnService(nil, web)
	for _, k := range []tracker.Kind{tracker.Services, tracker.EndpointSlices, tracker.Node} {
		tr.SetSynced(k)
	}
	c := tr.Take()
	fmt.Println("first sync:", c.Services)

	// A no-op update (new resourceVersion only) leaves nothing to do.
	same := web.DeepCopy()
	same.ResourceVersion = "2"
	tr.OnService(web, same)
	c = tr.Take()
	fmt.Println("after no-op:", c.Services, "events:", c.ServiceUpdates)

	// Two real updates are one change.
	p81 := same.DeepCopy()
	p81.Spec.Ports[0].Port = 81
	p82 := p81.DeepCopy()
	p82.Spec.Ports[0].Port = 82
	tr.OnService(same, p81)
	tr.OnService(p81, p82)
	c = tr.Take()
	fmt.Println("after two updates:", c.Services, "port now", tr.Store().Service(c.Services[0]).Spec.Ports[0].Port)
	// Output:
	// notified
	// notified
	// first sync: [shop/web]
	// after no-op: [] events: 1
	// notified
	// after two updates: [shop/web] port now 82
}
