//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// TestInvalidServiceOneEventForAllNodes: the proxies of two nodes see the
// same invalid Service and write one Event between them, with no node in
// it (with 1,000 nodes there used to be 1,000 Events per problem).
func TestInvalidServiceOneEventForAllNodes(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNodeNamed(t, c, "node-b", "198.18.1.2")
	createNamespace(t, c, "shop")
	kernelA, adaptersA := newKernel()
	startDaemon(t, p.Config(), adaptersA)
	kernelB, adaptersB := newKernel()
	startDaemon(t, p.Config(), adaptersB, func(cfg *daemon.Config) { cfg.NodeName = "node-b" })

	bad := createService(t, c, k8stest.Service("shop", "bad", k8stest.Annotate("ipvs-proxy.io/scheduler", "fastest")))
	// Each daemon reports the problem in the sync that programs the
	// service.
	kernelA.ExpectReals(t, tcpKey(bad.Spec.ClusterIP, 80))
	kernelB.ExpectReals(t, tcpKey(bad.Spec.ClusterIP, 80))
	eventually(t, 20*time.Second, "a warning event on shop/bad", func() (bool, string) {
		evs := invalidEvents(t, c, "bad")
		return len(evs) > 0, fmt.Sprintf("%d events", len(evs))
	})
	time.Sleep(2 * time.Second) // the other daemon's create, were it not refused
	evs := invalidEvents(t, c, "bad")
	if len(evs) != 1 {
		t.Fatalf("%d events on shop/bad, want 1: %+v", len(evs), evs)
	}
	if e := evs[0]; e.Source.Host != "" || e.ReportingInstance != "" || e.Type != v1.EventTypeWarning {
		t.Errorf("event source %+v, reporting instance %q, type %s; want no node, Warning", e.Source, e.ReportingInstance, e.Type)
	}
}

// invalidEvents lists the InvalidForProxy events on service shop/name.
func invalidEvents(t *testing.T, c kubernetes.Interface, name string) []v1.Event {
	t.Helper()
	list, err := c.CoreV1().Events("shop").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Service" && e.InvolvedObject.Name == name && e.Reason == "InvalidForProxy" {
			out = append(out, e)
		}
	}
	return out
}

// createNodeNamed creates a Node with an InternalIP, for a second daemon.
func createNodeNamed(t *testing.T, c kubernetes.Interface, name, ip string) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Create(t.Context(), &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
