package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestHostAddressesFollowInterfaces: an external IP that an administrator
// then adds to a node interface becomes the host's at the next full
// reconcile: the service is rebuilt with the new host addresses (its event
// says the address is the node's) and the address is still served.
func TestHostAddressesFollowInterfaces(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.3.3"} })
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	client := fake.NewClientset(node, svc, slice)
	ipvsFake, addrFake, nfFake := ipvs.NewFake(), addr.NewFake(addr.Config{}), netfilter.NewFake()
	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	// Node ports only on 198.18.1.0/24: the new address changes the host's
	// addresses, not the node-port ones.
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: 200 * time.Millisecond, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: 50 * time.Millisecond, NodePortAddresses: []string{"198.18.1.0/24"}}
	ctx := startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: Adapters{IPVS: ipvsFake, Addresses: addrFake,
		Netfilter: nfFake, Conntrack: conntrack.NewFake()}})
	waitFor(t, func() bool { return strings.Contains(nfFake.Dump(), "port external-ip tcp 198.18.3.3:80\n") }, nfFake.Dump)
	if !strings.Contains(addrFake.Dump(), "198.18.3.3") {
		t.Errorf("external IP not bound:\n%s", addrFake.Dump())
	}
	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.3.3"))
	events := func() string {
		list, err := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, e := range list.Items {
			out = append(out, e.InvolvedObject.Name+": "+e.Message)
		}
		return strings.Join(out, "\n")
	}
	waitFor(t, func() bool {
		return strings.Contains(events(), "web: externalIPs: 198.18.3.3 is an address of this node")
	}, events)
	if !strings.Contains(ipvsFake.Dump(), "-A -t 198.18.3.3:80") {
		t.Errorf("the host address is no longer served:\n%s", ipvsFake.Dump())
	}
	// Its other ports are no longer rejected: the port is a host port, so
	// the address leaves service-ips.
	waitFor(t, func() bool { return strings.Contains(nfFake.Dump(), "port external-ip tcp 198.18.3.3:80 host\n") }, nfFake.Dump)
}
