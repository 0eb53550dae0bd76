//go:build integration

package manifests

import (
	"fmt"
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
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/test/integration/cluster"
)

const (
	// daemonUser is the DaemonSet's service account as the API server sees
	// its token.
	daemonUser = "system:serviceaccount:kube-system:ipvs-proxy"
)

// userConfig returns cfg impersonating user (with the groups the API server
// gives a service account's token).
func userConfig(cfg *rest.Config, user string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return cfg
}

// asUser returns a clientset that impersonates user and talks protobuf, as
// the daemon does.
func asUser(t *testing.T, cfg *rest.Config, user string) kubernetes.Interface {
	t.Helper()
	cfg = userConfig(cfg, user)
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
	k := startDaemon(t, userConfig(p.Config(), daemonUser))

	svc := createService(t, admin, k8stest.Service("shop", "web"))
	applySlice(t, admin, k8stest.Slice("shop", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	k.ExpectReals(t, tcpKey(svc.Spec.ClusterIP, 80), "198.18.10.1:8080 1")

	bad := createService(t, admin, k8stest.Service("shop", "bad", k8stest.Annotate("ipvs-proxy.io/scheduler", "fastest")))
	k.ExpectReals(t, tcpKey(bad.Spec.ClusterIP, 80))
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
	k := startDaemon(t, userConfig(p.Config(), "system:serviceaccount:kube-system:not-bound"))
	svc := createService(t, admin, k8stest.Service("shop", "web"))
	applySlice(t, admin, k8stest.Slice("shop", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	time.Sleep(3 * time.Second) // many sync periods of the test daemon
	if dump := k.IPVS.Dump(); strings.Contains(dump, svc.Spec.ClusterIP) {
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
	cluster.CreateNode(t, c)
	cluster.CreateNamespace(t, c, "shop")
}

// startDaemon runs daemon.Run, reading the API server as rc allows, with
// kernel fakes until the test ends.
func startDaemon(t *testing.T, rc *rest.Config) *cluster.Kernel {
	t.Helper()
	k, adapters := cluster.NewKernel()
	cluster.StartDaemon(t, rc, adapters, func(c *daemon.Config) { c.SyncPeriod, c.DrainTimeout = 2*time.Second, time.Second })
	return k
}

var (
	createService = cluster.CreateService
	applySlice    = cluster.ApplySlice
	eventually    = cluster.Eventually
	tcpKey        = cluster.TCPKey
)

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
