//go:build integration

package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/daemon"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// NodeName and NodeIP are the node the daemon runs as.
const (
	NodeName = "node-a"
	NodeIP   = "198.18.1.1"
)

// Kernel is the fake kernel the daemon programs.
type Kernel struct {
	IPVS *ipvs.Fake
	Addr *addr.Fake
	NF   *netfilter.Fake
}

// NewKernel returns fakes for every adapter, with the node's address on a
// host interface.
func NewKernel() (*Kernel, daemon.Adapters) {
	k := &Kernel{IPVS: ipvs.NewFake(), Addr: addr.NewFake(addr.Config{}), NF: netfilter.NewFake()}
	k.Addr.SetHostAddresses(netip.MustParseAddr(NodeIP))
	return k, daemon.Adapters{IPVS: k.IPVS, Addresses: k.Addr, Netfilter: k.NF, Conntrack: conntrack.NewFake(),
		Sysctl: sysctl.NewFake(map[string]string{"kernel.osrelease": "6.1.0-test"})}
}

// InternalIPs is the node's InternalIP addresses, as the daemon reads them.
func InternalIPs(n *v1.Node) (proxier.Node, error) {
	out := proxier.Node{Name: n.Name, Labels: n.Labels}
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == v1.NodeInternalIP {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out, nil
}

// StartDaemon runs the daemon with adapters until the test ends or the
// returned stop is called, with short periods; it reads the API server with
// the daemon's own client (kubeapi) built from rc, talking protobuf as the
// daemon does by default; mutators adjust the configuration.
func StartDaemon(t *testing.T, rc *rest.Config, adapters daemon.Adapters, mut ...func(*daemon.Config)) (stop func()) {
	t.Helper()
	rc = rest.CopyConfig(rc)
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubeapi.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := daemon.Config{NodeName: NodeName, Node: InternalIPs, SyncPeriod: 3 * time.Second, MinSyncPeriod: 100 * time.Millisecond,
		DrainTimeout: 2 * time.Second, DrainPollInterval: 200 * time.Millisecond, LameDuck: 10 * time.Millisecond,
		HealthzBindAddress: "127.0.0.1:0", MetricsBindAddress: "127.0.0.1:0",
		Owner: reconcile.Owner{NodePortMin: 30000, NodePortMax: 32767}}
	for _, m := range mut {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg, daemon.Deps{Client: client, Adapters: adapters}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// CreateNode creates the daemon's Node with its InternalIP.
func CreateNode(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName, Labels: map[string]string{v1.LabelTopologyZone: "zone-a"}}}
	n, err := c.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: NodeIP}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// CreateNamespace creates a namespace.
func CreateNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// CreateService creates a service (the API server allocates its cluster
// IP) and returns it.
func CreateService(t *testing.T, c kubernetes.Interface, svc *v1.Service) *v1.Service {
	t.Helper()
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	svc.CreationTimestamp = metav1.Time{}
	out, err := c.CoreV1().Services(svc.Namespace).Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ApplySlice creates or updates an EndpointSlice.
func ApplySlice(t *testing.T, c kubernetes.Interface, sl *discovery.EndpointSlice) {
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

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
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

// ExpectReals waits until the virtual server has exactly these real
// servers ("addr:port weight").
func (k *Kernel) ExpectReals(t *testing.T, vs model.VSKey, want ...string) {
	t.Helper()
	Eventually(t, 20*time.Second, vs.String()+" real servers "+strings.Join(want, ", "), func() (bool, string) {
		svcs, _ := k.IPVS.ListServices()
		for _, s := range svcs {
			if s.VSKey == vs {
				var got []string
				for _, r := range s.Reals {
					got = append(got, fmt.Sprintf("%s %d", r.RSKey, r.Weight))
				}
				return strings.Join(got, ", ") == strings.Join(want, ", "), k.IPVS.Dump()
			}
		}
		return false, k.IPVS.Dump()
	})
}

// ExpectNoVS waits until the virtual server is gone.
func (k *Kernel) ExpectNoVS(t *testing.T, vs model.VSKey) {
	t.Helper()
	Eventually(t, 20*time.Second, "no "+vs.String(), func() (bool, string) {
		svcs, _ := k.IPVS.ListServices()
		for _, s := range svcs {
			if s.VSKey == vs {
				return false, k.IPVS.Dump()
			}
		}
		return true, ""
	})
}

// TCPKey is the key of a TCP virtual server.
func TCPKey(ip string, port uint16) model.VSKey {
	return model.VSKey{Addr: netip.MustParseAddr(ip), Port: port, Proto: model.TCP}
}
