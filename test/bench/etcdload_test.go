//go:build bench

package bench

import (
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// TestLoadEtcd checks that what LoadEtcd writes is what the API server
// serves, and that the cluster IPs count as allocated: a new service asking
// for one is refused.
func TestLoadEtcd(t *testing.T) {
	apiserver.RequireBinaries(t)
	p, err := apiserver.Start(t.Context(), apiserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := kubernetes.NewForConfig(p.Admin().Config())
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	if err := Populate(t.Context(), c, p.EtcdURL(), n, 4); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, n - 1} {
		svc, err := c.CoreV1().Services(Namespace).Get(t.Context(), ServiceName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != ClusterIP(i).String() || svc.Spec.Ports[0].Port != ServicePort || svc.UID == "" {
			t.Errorf("service %d served as %+v", i, svc.Spec)
		}
		sl, err := c.DiscoveryV1().EndpointSlices(Namespace).Get(t.Context(), Slice(i).Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sl.Endpoints) != EndpointsPerService || sl.Endpoints[3].Addresses[0] != EndpointIP(i, 3).String() {
			t.Errorf("slice %d served with endpoints %v", i, sl.Endpoints)
		}
	}
	// The same cluster IP under another name: the IPAddress object written
	// beside the service must make the allocator refuse it.
	other := Service(3)
	other.Name = "other"
	_, err = c.CoreV1().Services(Namespace).Create(t.Context(), other, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("creating a service on loaded cluster IP %s: %v, want it refused as allocated", other.Spec.ClusterIP, err)
	}
	// Populate again over what exists: nothing to load, nothing refused.
	if err := Populate(t.Context(), c, p.EtcdURL(), n, 4); err != nil {
		t.Fatal(errors.Join(errors.New("populating again"), err))
	}
}
