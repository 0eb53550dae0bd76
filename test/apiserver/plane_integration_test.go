//go:build integration

package apiserver_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

const ns = "plane-test"

// TestPlane proves the plane is a real API server the daemon's informer path
// can use: objects of the three kinds the daemon watches reach an informer, an
// API-server restart keeps them and the informer resumes, RBAC holds for a
// non-admin user, kubectl works, and Stop leaves nothing listening.
func TestPlane(t *testing.T) {
	start := time.Now()
	p := apiserver.ForTest(t, apiserver.Options{})
	t.Logf("Timing: start %v", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()
	client := kubernetes.NewForConfigOrDie(p.Config())

	kubernetesSvc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kubernetesSvc.Spec.ClusterIP; got != "198.18.0.1" {
		t.Errorf("default/kubernetes ClusterIP = %s, want the first address of 198.18.0.0/16", got)
	}

	create(ctx, t, client, namespace(), service("web"), slice("web", "198.19.0.10"), node("node-1"))
	svc, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip := netip.MustParseAddr(svc.Spec.ClusterIP); !netip.MustParsePrefix("198.18.0.0/16").Contains(ip) {
		t.Errorf("Service web got ClusterIP %s, want one from 198.18.0.0/16", ip)
	}

	seen := watchAll(ctx, t, client)
	seen.waitFor(t, "Service/web", "EndpointSlice/web-1", "Node/node-1")

	restart := time.Now()
	if err := p.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(restart)
	if _, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err == nil {
		t.Errorf("Listing Services with the API server stopped succeeded")
	}
	if _, ok, _ := seen.store.GetByKey(ns + "/web"); !ok {
		t.Errorf("Informer store lost Service web while the API server was down")
	}
	if err := p.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Timing: restart %v (stop %v)", time.Since(restart).Round(time.Millisecond), stopped.Round(time.Millisecond))

	// The informer resumes: changes made after the restart reach it.
	create(ctx, t, client, service("after"), slice("after", "198.19.0.20"))
	seen.waitFor(t, "Service/after", "EndpointSlice/after-1")
	if got := len(seen.store.List()); got < 2 {
		t.Errorf("Service informer store holds %d Services after the restart, want web, after and kubernetes", got)
	}

	// A crash (SIGKILL, connections reset) is survived the same way.
	kill := time.Now()
	if err := p.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := p.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Timing: kill and start %v", time.Since(kill).Round(time.Millisecond))
	create(ctx, t, client, node("node-2"))
	seen.waitFor(t, "Node/node-2")

	checkRBAC(ctx, t, p, client)
	checkKubectl(ctx, t, p)

	stop := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Timing: stop %v", time.Since(stop).Round(time.Millisecond))
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err == nil {
		t.Errorf("API server still answers after Stop")
	}
}

// TestDualStack checks the optional IPv6 range: a dual-stack Service gets one
// address from each range.
func TestDualStack(t *testing.T) {
	p := apiserver.ForTest(t, apiserver.Options{ServiceCIDRv6: apiserver.DefaultServiceCIDRv6})
	ctx := t.Context()
	client := kubernetes.NewForConfigOrDie(p.Config())
	svc := service("dual")
	svc.Namespace = "default"
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	got, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ranges := []netip.Prefix{netip.MustParsePrefix(apiserver.DefaultServiceCIDR), netip.MustParsePrefix(apiserver.DefaultServiceCIDRv6)}
	if len(got.Spec.ClusterIPs) != 2 {
		t.Fatalf("ClusterIPs = %v, want one IPv4 and one IPv6", got.Spec.ClusterIPs)
	}
	for i, ip := range got.Spec.ClusterIPs {
		if !ranges[i].Contains(netip.MustParseAddr(ip)) {
			t.Errorf("ClusterIPs[%d] = %s, want one from %s", i, ip, ranges[i])
		}
	}
}

// checkRBAC shows a user from NewUser has exactly what RBAC grants it.
func checkRBAC(ctx context.Context, t *testing.T, p *apiserver.Plane, admin kubernetes.Interface) {
	t.Helper()
	user, err := p.NewUser("proxy-under-test", "test:proxies")
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(user.Config())
	list := func() error {
		_, err := client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
		return err
	}
	if err := list(); !apierrors.IsForbidden(err) {
		t.Fatalf("Listing EndpointSlices before any binding: err = %v, want Forbidden", err)
	}
	create(ctx, t, admin,
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "slice-reader"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"},
			}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "slice-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "slice-reader"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "test:proxies"}},
		})
	eventually(t, "the bound user to list EndpointSlices", list)
	if _, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("Listing Services without a grant: err = %v, want Forbidden", err)
	}
}

// checkKubectl shows the kubectl binary works against the plane and that the
// binaries are stamped with the release.
func checkKubectl(ctx context.Context, t *testing.T, p *apiserver.Plane) {
	t.Helper()
	out, err := p.Kubectl(ctx, "version")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Client Version: " + apiserver.Version, "Server Version: " + apiserver.Version} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl version printed %q, want %q", out, want)
		}
	}
	out, err = p.Kubectl(ctx, "get", "endpointslices", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "endpointslice.discovery.k8s.io/web-1") {
		t.Errorf("kubectl get endpointslices printed %q, want web-1", out)
	}
}

// seenObjects records Kind/name of every object the informers added or updated.
type seenObjects struct {
	mu    sync.Mutex
	names map[string]bool
	store cache.Store
}

func watchAll(ctx context.Context, t *testing.T, client kubernetes.Interface) *seenObjects {
	t.Helper()
	s := &seenObjects{names: map[string]bool{}}
	factory := informers.NewSharedInformerFactory(client, 0)
	record := func(kind string) cache.ResourceEventHandler {
		add := func(obj any) {
			if m, err := objectMeta(obj); err == nil {
				s.mu.Lock()
				s.names[kind+"/"+m.GetName()] = true
				s.mu.Unlock()
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj any) { add(obj) }}
	}
	services := factory.Core().V1().Services().Informer()
	s.store = services.GetStore()
	mustHandle(t, services, record("Service"))
	mustHandle(t, factory.Discovery().V1().EndpointSlices().Informer(), record("EndpointSlice"))
	mustHandle(t, factory.Core().V1().Nodes().Informer(), record("Node"))
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("Informer for %v did not sync", typ)
		}
	}
	return s
}

func (s *seenObjects) waitFor(t *testing.T, names ...string) {
	t.Helper()
	eventually(t, "informers to see "+strings.Join(names, ", "), func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, n := range names {
			if !s.names[n] {
				return apierrors.NewNotFound(corev1.Resource("informer"), n)
			}
		}
		return nil
	})
}
