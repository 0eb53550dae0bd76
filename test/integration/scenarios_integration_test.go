//go:build integration

package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// TestServiceLifecycleAndRollingUpdate: create, update and delete Services
// and EndpointSlices through the API; the fake kernel converges, and a
// rolling update of backends drains as the policy says.
func TestServiceLifecycleAndRollingUpdate(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNamespace(t, c, "shop")
	k, adapters := newKernel()
	startDaemon(t, p.Config(), adapters)

	svc := createService(t, c, k8stest.Service("shop", "web"))
	vs := tcpKey(svc.Spec.ClusterIP, 80)
	slice := func(eps ...discovery.Endpoint) *discovery.EndpointSlice {
		return k8stest.Slice("shop", "web", "web-abc", eps)
	}
	applySlice(t, c, slice(ep("198.18.10.1"), ep("198.18.10.2")))
	k.ExpectReals(t, vs, "198.18.10.1:8080 1", "198.18.10.2:8080 1")

	// Rolling update: a new pod becomes ready, the old one terminates...
	applySlice(t, c, slice(ep("198.18.10.1"), ep("198.18.10.2", terminating(true)), ep("198.18.10.3")))
	k.ExpectReals(t, vs, "198.18.10.1:8080 1", "198.18.10.2:8080 0", "198.18.10.3:8080 1")
	// ...and leaves its slice: its destination goes at once.
	applySlice(t, c, slice(ep("198.18.10.1"), ep("198.18.10.3")))
	k.ExpectReals(t, vs, "198.18.10.1:8080 1", "198.18.10.3:8080 1")

	// A backend that vanishes without terminating drains, then goes after
	// the drain timeout even though its connections never close. (Its
	// connections are open before it turns not ready: at zero the next
	// drain poll deletes it at once, and the weight-0 state could pass
	// between two looks of the test.)
	if err := k.IPVS.SetStats(vs, rsKey("198.18.10.3:8080"), statsActive(3)); err != nil {
		t.Fatal(err)
	}
	applySlice(t, c, slice(ep("198.18.10.1"), ep("198.18.10.3", k8stest.NotReady)))
	k.ExpectReals(t, vs, "198.18.10.1:8080 1", "198.18.10.3:8080 0")
	k.ExpectReals(t, vs, "198.18.10.1:8080 1")

	// Updating the service (a scheduler annotation) updates the virtual server.
	cur, err := c.CoreV1().Services("shop").Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Annotations = map[string]string{"ipvs-proxy.io/scheduler": "mh"}
	if _, err := c.CoreV1().Services("shop").Update(t.Context(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "scheduler mh", func() (bool, string) {
		svcs, _ := k.IPVS.ListServices()
		for _, s := range svcs {
			if s.VSKey == vs {
				return s.Scheduler == "mh", k.IPVS.Dump()
			}
		}
		return false, k.IPVS.Dump()
	})

	if err := c.CoreV1().Services("shop").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	k.ExpectNoVS(t, vs)
}

// TestAPIServerRestartKeepsKernel: while the API server is down the kernel
// is left exactly as it is; after it returns, new changes converge.
func TestAPIServerRestartKeepsKernel(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNamespace(t, c, "shop")
	k, adapters := newKernel()
	startDaemon(t, p.Config(), adapters)
	svc := createService(t, c, k8stest.Service("shop", "web"))
	applySlice(t, c, k8stest.Slice("shop", "web", "web-abc", []discovery.Endpoint{ep("198.18.10.1")}))
	k.ExpectReals(t, tcpKey(svc.Spec.ClusterIP, 80), "198.18.10.1:8080 1")
	before := k.IPVS.Dump() + k.Addr.Dump()

	if err := p.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // longer than a full sync period: reconciles run meanwhile
	if after := k.IPVS.Dump() + k.Addr.Dump(); after != before {
		t.Fatalf("kernel changed while the API server was down:\n%s\nwas:\n%s", after, before)
	}
	if err := p.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc2 := createService(t, c, k8stest.Service("shop", "api"))
	applySlice(t, c, k8stest.Slice("shop", "api", "api-abc", []discovery.Endpoint{ep("198.18.10.7")}))
	k.ExpectReals(t, tcpKey(svc2.Spec.ClusterIP, 80), "198.18.10.7:8080 1")
	k.ExpectReals(t, tcpKey(svc.Spec.ClusterIP, 80), "198.18.10.1:8080 1")
}

// TestInvalidServiceGetsEventAndOthersWork: a service with a bad annotation
// gets a Warning event and the default scheduler; other services are fine.
func TestInvalidServiceGetsEvent(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNamespace(t, c, "shop")
	k, adapters := newKernel()
	startDaemon(t, p.Config(), adapters)
	bad := createService(t, c, k8stest.Service("shop", "bad", k8stest.Annotate("ipvs-proxy.io/scheduler", "fastest")))
	k.ExpectReals(t, tcpKey(bad.Spec.ClusterIP, 80))
	eventually(t, 20*time.Second, "a warning event on shop/bad", func() (bool, string) {
		evs, err := c.CoreV1().Events("shop").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "bad" && e.Type == v1.EventTypeWarning {
				return true, ""
			}
		}
		return false, "no event yet"
	})
}

// TestRestartWithManyServicesWritesNothing: a second daemon on the kernel
// the first one programmed writes nothing. With many services the informers
// report their stores synced while notifications to our handler are still
// queued; a first sync started then deleted the services it did not know
// yet (seen in the VM at 10,000 services: 700 deleted and re-added).
func TestRestartWithManyServicesWritesNothing(t *testing.T) {
	const n = 1000
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNamespace(t, c, "many")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				name := fmt.Sprintf("svc-%d", i)
				createService(t, c, k8stest.Service("many", name))
				applySlice(t, c, k8stest.Slice("many", name, name+"-1", []discovery.Endpoint{
					ep(fmt.Sprintf("198.19.%d.%d", i/200, i%200+1)), ep(fmt.Sprintf("198.19.%d.%d", 8+i/200, i%200+1))}))
			}
		})
	}
	wg.Wait()
	k, adapters := newKernel()
	stop := startDaemon(t, p.Config(), adapters)
	// The API server's own "kubernetes" service is one more virtual server.
	eventually(t, time.Minute, "every service programmed", func() (bool, string) {
		got := len(k.IPVS.Services())
		return got == n+1, fmt.Sprintf("%d virtual servers", got)
	})
	stop()

	k.IPVS.ResetCalls()
	k.Addr.ResetCalls()
	nfWrites := func() int {
		return k.NF.Calls(netfilter.CallApply) + k.NF.Calls(netfilter.CallUpdate) + k.NF.Calls(netfilter.CallRepair)
	}
	nf := nfWrites()
	startDaemon(t, p.Config(), adapters)
	// Above one repair chunk (500) the first sync assumes what the record
	// in the netfilter program says is programmed, and the first repair
	// cycle, run back to back, reads it all: one listing and every virtual
	// server's real servers (reconcile/adopt.go).
	eventually(t, time.Minute, "the restarted daemon's adopting cycle", func() (bool, string) {
		lists, reads := k.IPVS.Calls(ipvs.CallListVirtualServers), k.IPVS.Calls(ipvs.CallListRealServers)
		return lists > 0 && reads >= n+1, fmt.Sprintf("%d listings, %d real-server reads", lists, reads)
	})
	time.Sleep(2 * time.Second) // its writes, and a few syncs after
	writes := k.IPVS.Writes() + k.Addr.Writes() + nfWrites() - nf
	if writes != 0 || len(k.IPVS.Services()) != n+1 {
		t.Errorf("restart over %d programmed services: %d writes, %d virtual servers; want 0 and %d", n, writes, len(k.IPVS.Services()), n+1)
	}
	if full := k.IPVS.Calls(ipvs.CallListServices); full != 0 {
		t.Errorf("the restart listed every real server %d times before its first sync; want it assumed", full)
	}
}

// TestInformerFiltersAsKubeProxy: kube-proxy's informers skip slices
// labelled service.kubernetes.io/headless, not Services carrying that
// label (cmd/kube-proxy/app/server.go): such a Service with a cluster IP
// is proxied, with the endpoints of its unlabelled slices.
func TestInformerFiltersAsKubeProxy(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{})
	c := newClient(t, p)
	createNode(t, c)
	createNamespace(t, c, "shop")
	k, adapters := newKernel()
	startDaemon(t, p.Config(), adapters)

	svc := createService(t, c, k8stest.Service("shop", "labelled", func(s *v1.Service) {
		s.Labels = map[string]string{v1.IsHeadlessService: ""}
	}))
	vs := tcpKey(svc.Spec.ClusterIP, 80)
	applySlice(t, c, k8stest.Slice("shop", "labelled", "labelled-1", []discovery.Endpoint{ep("198.18.10.1")}))
	applySlice(t, c, k8stest.Slice("shop", "labelled", "labelled-2", []discovery.Endpoint{ep("198.18.10.2")},
		func(sl *discovery.EndpointSlice) { sl.Labels[v1.IsHeadlessService] = "" }))
	k.ExpectReals(t, vs, "198.18.10.1:8080 1")
}
