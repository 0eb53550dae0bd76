//go:build integration

package manifests

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

const (
	nodeName = "node-a"
	// daemonUser is the DaemonSet's service account as the API server sees
	// its token.
	daemonUser = "system:serviceaccount:kube-system:ipvs-proxy"
)

// asUser returns a client that impersonates user (with the groups the API
// server gives a service account's token) and talks protobuf, as the daemon
// does.
func asUser(t *testing.T, cfg *rest.Config, user string) kubernetes.Interface {
	t.Helper()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClusterRoleIsEnough applies the manifests, then runs the daemon as the
// DaemonSet's service account, bound to nothing but the ipvs-proxy
// ClusterRole, and checks that it converges and writes its events: created
// the first time, patched when the same problem comes back.
func TestClusterRoleIsEnough(t *testing.T) {
	p, admin := plane(t)
	kubectlAdmin(t, p, "apply", "-k", baseDir)
	setUpCluster(t, admin)
	k := startDaemon(t, asUser(t, p.Config(), daemonUser))

	svc := createService(t, admin, k8stest.Service("shop", "web"))
	applySlice(t, admin, k8stest.Slice("shop", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	k.expectReals(t, tcpKey(svc.Spec.ClusterIP, 80), "198.18.10.1:8080 1")

	bad := createService(t, admin, k8stest.Service("shop", "bad", k8stest.Annotate("ipvs-proxy.io/scheduler", "fastest")))
	k.expectReals(t, tcpKey(bad.Spec.ClusterIP, 80))
	first := waitEvent(t, admin, "bad", "fastest", 1)
	// Another problem, then the first again: the broadcaster patches the
	// count of the event it created.
	annotate(t, admin, "bad", "slowest")
	waitEvent(t, admin, "bad", "slowest", 1)
	annotate(t, admin, "bad", "fastest")
	again := waitEvent(t, admin, "bad", "fastest", 2)
	if again.Name != first.Name {
		t.Errorf("the repeated problem made event %s, want %s patched", again.Name, first.Name)
	}
}

// TestWithoutTheRoleNothingConverges is the control: the same daemon as a
// service account without the binding is refused and programs nothing.
func TestWithoutTheRoleNothingConverges(t *testing.T) {
	p, admin := plane(t)
	kubectlAdmin(t, p, "apply", "-k", baseDir)
	setUpCluster(t, admin)
	other := asUser(t, p.Config(), "system:serviceaccount:kube-system:not-bound")
	_, err := other.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing services without the role: want Forbidden, got %v", err)
	}
	k := startDaemon(t, other)
	svc := createService(t, admin, k8stest.Service("shop", "web"))
	applySlice(t, admin, k8stest.Slice("shop", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	time.Sleep(3 * time.Second) // many sync periods of the test daemon
	if dump := k.ipvs.Dump(); strings.Contains(dump, svc.Spec.ClusterIP) {
		t.Fatalf("the daemon programmed %s without permission to read it:\n%s", svc.Spec.ClusterIP, dump)
	}
}

// TestRoleGrantsNothingElse asks the API server what the service account may
// do beyond its needs: nothing that writes or reads secrets.
func TestRoleGrantsNothingElse(t *testing.T) {
	p, _ := plane(t)
	kubectlAdmin(t, p, "apply", "-k", baseDir)
	c := asUser(t, p.Config(), daemonUser)
	for _, tc := range []struct {
		verb, group, resource string
		allowed               bool
	}{
		{"watch", "", "services", true},
		{"list", "discovery.k8s.io", "endpointslices", true},
		{"watch", "", "nodes", true},
		{"create", "", "events", true},
		{"patch", "", "events", true},
		{"update", "", "services", false},
		{"patch", "", "nodes", false},
		{"update", "discovery.k8s.io", "endpointslices", false},
		{"delete", "", "events", false},
		{"create", "events.k8s.io", "events", false},
		{"get", "", "secrets", false},
		{"list", "", "pods", false},
		{"list", "", "configmaps", false},
	} {
		review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{Verb: tc.verb, Group: tc.group, Resource: tc.resource, Namespace: "shop"}}}
		got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), review, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != tc.allowed {
			t.Errorf("%s %s.%s: allowed %v, want %v", tc.verb, tc.resource, tc.group, got.Status.Allowed, tc.allowed)
		}
	}
}

// setUpCluster creates the node the daemon runs on and a namespace.
func setUpCluster(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Create(t.Context(), &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "198.18.1.1"}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// kernel is the fake kernel the daemon programs.
type kernel struct{ ipvs *ipvs.Fake }

// startDaemon runs daemon.Run with client and kernel fakes until the test
// ends.
func startDaemon(t *testing.T, client kubernetes.Interface) *kernel {
	t.Helper()
	k := &kernel{ipvs: ipvs.NewFake()}
	a := addr.NewFake(addr.Config{})
	a.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	adapters := daemon.Adapters{IPVS: k.ipvs, Addresses: a, Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake(),
		Sysctl: sysctl.NewFake(map[string]string{"kernel.osrelease": "6.1.0-test"})}
	cfg := daemon.Config{NodeName: nodeName, Node: internalIPs, SyncPeriod: 2 * time.Second, MinSyncPeriod: 100 * time.Millisecond,
		DrainTimeout: time.Second, DrainPollInterval: 200 * time.Millisecond, LameDuck: 10 * time.Millisecond,
		HealthzBindAddress: "127.0.0.1:0", MetricsBindAddress: "127.0.0.1:0",
		Owner: reconcile.Owner{NodePortMin: 30000, NodePortMax: 32767}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg, daemon.Deps{Client: client, Adapters: adapters}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return k
}

func internalIPs(n *v1.Node) (proxier.Node, error) {
	out := proxier.Node{Name: n.Name, Labels: n.Labels}
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == v1.NodeInternalIP {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out, nil
}

func createService(t *testing.T, c kubernetes.Interface, svc *v1.Service) *v1.Service {
	t.Helper()
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	svc.CreationTimestamp = metav1.Time{}
	out, err := c.CoreV1().Services(svc.Namespace).Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func applySlice(t *testing.T, c kubernetes.Interface, sl *discovery.EndpointSlice) {
	t.Helper()
	if _, err := c.DiscoveryV1().EndpointSlices(sl.Namespace).Create(t.Context(), sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// annotate sets the scheduler annotation of a service in shop.
func annotate(t *testing.T, c kubernetes.Interface, name, scheduler string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"ipvs-proxy.io/scheduler":%q}}}`, scheduler)
	if _, err := c.CoreV1().Services("shop").Patch(t.Context(), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitEvent waits for a Warning event on the service whose message mentions
// what and whose count is at least count, and returns it.
func waitEvent(t *testing.T, c kubernetes.Interface, svc, what string, count int32) v1.Event {
	t.Helper()
	var found v1.Event
	eventually(t, 20*time.Second, fmt.Sprintf("a Warning event about %q on shop/%s, count %d", what, svc, count), func() (bool, string) {
		evs, err := c.CoreV1().Events("shop").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			seen = append(seen, fmt.Sprintf("%s %s count=%d: %s", e.Name, e.Type, e.Count, e.Message))
			if e.InvolvedObject.Name == svc && e.Type == v1.EventTypeWarning && strings.Contains(e.Message, what) && e.Count >= count {
				found = e
				return true, ""
			}
		}
		return false, strings.Join(seen, "\n")
	})
	return found
}

// expectReals waits until the virtual server has exactly these real servers
// ("addr:port weight").
func (k *kernel) expectReals(t *testing.T, vs model.VSKey, want ...string) {
	t.Helper()
	eventually(t, 20*time.Second, vs.String()+" real servers "+strings.Join(want, ", "), func() (bool, string) {
		svcs, _ := k.ipvs.ListServices()
		for _, s := range svcs {
			if s.VSKey == vs {
				var got []string
				for _, r := range s.Reals {
					got = append(got, fmt.Sprintf("%s %d", r.RSKey, r.Weight))
				}
				return strings.Join(got, ", ") == strings.Join(want, ", "), k.ipvs.Dump()
			}
		}
		return false, k.ipvs.Dump()
	})
}

func tcpKey(ip string, port uint16) model.VSKey {
	return model.VSKey{Addr: netip.MustParseAddr(ip), Port: port, Proto: model.TCP}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state:\n%s", what, last)
}
