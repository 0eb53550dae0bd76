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

// TestAddressDriftRepairedByNotifications: with a sync period far too long
// to help, drift the kernel reports is repaired within about a second: an
// address deleted behind our back, the dummy interface deleted, lost
// notifications, a new node address for node ports. The notifications of
// the daemon's own binds cause no listing.
func TestAddressDriftRepairedByNotifications(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web", k8stest.NodePort(30080))
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	client := fake.NewClientset(node, svc, slice)
	ipvsFake, addrFake := ipvs.NewFake(), addr.NewFake(addr.Config{})
	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"))
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: 10 * time.Minute, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: time.Minute}
	startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: Adapters{IPVS: ipvsFake, Addresses: addrFake,
		Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	vip := netip.MustParseAddr("198.18.0.10")
	bound := func() bool { return strings.Contains(addrFake.Dump(), "\n198.18.0.10\n") }
	waitFor(t, bound, addrFake.Dump)
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-A -t 198.18.1.1:30080") }, ipvsFake.Dump)

	// The first Full listed once; the notification of its bind did not.
	time.Sleep(300 * time.Millisecond) // debounce and the sync it triggers
	if n := addrFake.Calls(addr.CallList); n != 1 {
		t.Errorf("listings after the cold sync = %d, want 1 (the Full's)", n)
	}

	lists := addrFake.Calls(addr.CallList)
	start := time.Now()
	addrFake.RemoveAddress(vip)
	waitFor(t, bound, addrFake.Dump)
	t.Logf("address deleted behind our back bound again after %v", time.Since(start))
	if n := addrFake.Calls(addr.CallList) - lists; n != 1 {
		t.Errorf("listings for the deletion = %d, want 1", n)
	}

	lists = addrFake.Calls(addr.CallList)
	addrFake.Inject(addr.Event{Kind: addr.EventsLost})
	waitFor(t, func() bool { return addrFake.Calls(addr.CallList) > lists }, addrFake.Dump)

	addrFake.RemoveInterface()
	waitFor(t, bound, addrFake.Dump)

	addrFake.SetHostAddresses(netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.1"))
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-A -t 198.18.2.1:30080") }, ipvsFake.Dump)
}
