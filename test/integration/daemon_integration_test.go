//go:build integration

// Package integration runs the daemon's control-plane path (informers,
// tracker, runner, engine) against a real kube-apiserver and etcd on
// 127.0.0.1, with the kernel adapters' fakes. Run it with `make integration`.
package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

const nodeName = "node-a"

// kernel is the fake kernel the daemon programs.
type kernel struct {
	ipvs *ipvs.Fake
	addr *addr.Fake
	nf   *netfilter.Fake
}

func newKernel() (*kernel, daemon.Adapters) {
	k := &kernel{ipvs: ipvs.NewFake(), addr: addr.NewFake(addr.Config{}), nf: netfilter.NewFake()}
	k.addr.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	return k, daemon.Adapters{IPVS: k.ipvs, Addresses: k.addr, Netfilter: k.nf, Conntrack: conntrack.NewFake(),
		Sysctl: sysctl.NewFake(map[string]string{"kernel.osrelease": "6.1.0-test"})}
}

// internalIPs is the node's InternalIP addresses, as the daemon reads them.
func internalIPs(n *v1.Node) (proxier.Node, error) {
	out := proxier.Node{Name: n.Name, Labels: n.Labels}
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == v1.NodeInternalIP {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out, nil
}

// startDaemon runs the daemon against the plane until the test ends.
func startDaemon(t *testing.T, client kubernetes.Interface, adapters daemon.Adapters, mut ...func(*daemon.Config)) {
	t.Helper()
	cfg := daemon.Config{NodeName: nodeName, Node: internalIPs, SyncPeriod: 3 * time.Second, MinSyncPeriod: 100 * time.Millisecond,
		DrainTimeout: 2 * time.Second, DrainPollInterval: 200 * time.Millisecond, LameDuck: 10 * time.Millisecond,
		HealthzBindAddress: "127.0.0.1:0", MetricsBindAddress: "127.0.0.1:0",
		Owner: reconcile.Owner{NodePortMin: 30000, NodePortMax: 32767}}
	for _, m := range mut {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg, daemon.Deps{Client: client, Adapters: adapters}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
}

func newClient(t *testing.T, p *apiserver.Plane) kubernetes.Interface {
	cfg := p.Config()
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createNode(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{v1.LabelTopologyZone: "zone-a"}}}
	n, err := c.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "198.18.1.1"}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createService creates a service (the API server allocates its cluster IP)
// and returns it.
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
	api := c.DiscoveryV1().EndpointSlices(sl.Namespace)
	cur, err := api.Get(t.Context(), sl.Name, metav1.GetOptions{})
	if err == nil {
		sl.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(t.Context(), sl, metav1.UpdateOptions{})
	} else {
		_, err = api.Create(t.Context(), sl, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func createNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
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

// expectReals waits until the virtual server has exactly these real
// servers ("addr:port weight").
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

func (k *kernel) expectNoVS(t *testing.T, vs model.VSKey) {
	t.Helper()
	eventually(t, 20*time.Second, "no "+vs.String(), func() (bool, string) {
		svcs, _ := k.ipvs.ListServices()
		for _, s := range svcs {
			if s.VSKey == vs {
				return false, k.ipvs.Dump()
			}
		}
		return true, ""
	})
}

func tcpKey(ip string, port uint16) model.VSKey {
	return model.VSKey{Addr: netip.MustParseAddr(ip), Port: port, Proto: model.TCP}
}

var (
	ep          = k8stest.Endpoint
	terminating = k8stest.Terminating
)
