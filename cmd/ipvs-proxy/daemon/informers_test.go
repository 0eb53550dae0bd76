package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
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

	svc := k8stest.Service("ns", "web", k8stest.Annotate("ipvs-proxy.io/scheduler", "mh", lastApplied, "{}"))
	if _, err := stripUnused(svc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ipvs-proxy.io/scheduler": "mh"}; !cmp.Equal(svc.Annotations, want) {
		t.Errorf("service annotations %v, want %v", svc.Annotations, want)
	}
}
