package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

func testNode(n *v1.Node) (proxier.Node, error) {
	return proxier.Node{Name: n.Name, IPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}, nil
}

// TestDaemonProgramsFakeKernel runs the whole daemon on client-go's fake
// clientset and the kernel fakes: objects created through the API end up
// in the kernel, and a dry run writes nothing.
func TestDaemonProgramsFakeKernel(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		t.Run(map[bool]string{false: "apply", true: "dry-run"}[dryRun], func(t *testing.T) {
			node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
			svc := k8stest.Service("ns", "web")
			slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
			client := fake.NewClientset(node, svc, slice)
			ipvsFake, addrFake := ipvs.NewFake(), addr.NewFake(addr.Config{})
			adapters := Adapters{IPVS: ipvsFake, Addresses: addrFake, Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}
			cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: time.Second, MinSyncPeriod: 10 * time.Millisecond,
				DrainPollInterval: 50 * time.Millisecond, DryRun: dryRun}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: adapters}) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			want := "-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1"
			if dryRun {
				time.Sleep(500 * time.Millisecond)
				if d := ipvsFake.Dump(); d != "" || ipvsFake.Writes() != 0 {
					t.Errorf("dry run wrote:\n%s", d)
				}
				return
			}
			waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), want) }, ipvsFake.Dump)
			// An update through the API reaches the kernel.
			slice.Endpoints = append(slice.Endpoints, k8stest.Endpoint("198.18.10.2"))
			if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-r 198.18.10.2:8080 -m -w 1") }, ipvsFake.Dump)
			if !strings.Contains(addrFake.Dump(), "198.18.0.10") {
				t.Errorf("cluster IP not bound:\n%s", addrFake.Dump())
			}
		})
	}
}

// startDaemon runs the daemon until the test ends and returns the context
// it runs in; the test fails if Run returns an error.
func startDaemon(t *testing.T, cfg Config, deps Deps) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, deps) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ctx
}

func waitFor(t *testing.T, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; state:\n%s", state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodePortAddressesFollowInterfaces: an address added to a node
// interface gets node-port virtual servers at the next full reconcile.
func TestNodePortAddressesFollowInterfaces(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web", k8stest.NodePort(30080))
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	client := fake.NewClientset(node, svc, slice)
	ipvsFake, addrFake := ipvs.NewFake(), addr.NewFake(addr.Config{})
	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: 200 * time.Millisecond, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: 50 * time.Millisecond}
	startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: Adapters{IPVS: ipvsFake, Addresses: addrFake,
		Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-A -t 198.18.1.1:30080") }, ipvsFake.Dump)
	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.1"))
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-A -t 198.18.2.1:30080") }, ipvsFake.Dump)
}
