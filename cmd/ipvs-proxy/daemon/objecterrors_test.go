package daemon

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/kubeapi/kubeapitest"
	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestRefusedObjectIsTheServicesProblem: an endpoint the kernel refuses
// (EINVAL, a subnet-broadcast address) gives its Service one FailedToProgram
// event and counts in ipvs_proxy_object_errors, while the proxy stays
// healthy long past the health timeout (two sync periods) and serves the
// Service's other endpoints.
func TestRefusedObjectIsTheServicesProblem(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web")
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1"), k8stest.Endpoint("198.18.10.255")})
	client := fake.NewClientset(node, svc, slice)
	ipvsFake := ipvs.NewFake()
	ipvsFake.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: "198.18.10.255:8080", Err: fmt.Errorf("adding real server: %w", syscall.EINVAL)})
	m := metrics.New()
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: 100 * time.Millisecond, MinSyncPeriod: 10 * time.Millisecond,
		DrainPollInterval: 50 * time.Millisecond}
	ctx := startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Metrics: m, Adapters: Adapters{IPVS: ipvsFake,
		Addresses: addr.NewFake(addr.Config{}), Netfilter: netfilter.NewFake(), Conntrack: conntrack.NewFake()}})
	waitFor(t, func() bool { return strings.Contains(ipvsFake.Dump(), "-r 198.18.10.1:8080 -m -w 1") }, ipvsFake.Dump)
	events := func() string {
		list, err := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, e := range list.Items {
			out = append(out, e.Reason+" "+e.InvolvedObject.Name+": "+e.Message)
		}
		return strings.Join(out, "\n")
	}
	waitFor(t, func() bool {
		return strings.Contains(events(), "FailedToProgram web: real server 198.18.10.255:8080 of tcp 198.18.0.10:80: invalid")
	}, events)
	waitFor(t, func() bool { return strings.Contains(gather(t, m), `ipvs_proxy_object_errors{reason="invalid"} 1`) },
		func() string { return gather(t, m) })
	// Ten health timeouts later (two sync periods each): no sync counted
	// as failed (a failed sync is one that leaves the proxy unhealthy),
	// nothing retried.
	writes := ipvsFake.Writes()
	time.Sleep(20 * cfg.SyncPeriod)
	if g := gather(t, m); !strings.Contains(g, `result="ok"`) || strings.Contains(g, `result="failed"`) {
		t.Errorf("syncs counted as failed because of one refused object:\n%s", g)
	}
	if w := ipvsFake.Writes(); w != writes {
		t.Errorf("the refused object was retried unchanged: %d writes", w-writes)
	}
	if n := strings.Count(events(), "FailedToProgram"); n != 1 {
		t.Errorf("%d FailedToProgram events, want 1:\n%s", n, events())
	}
}

// gather renders the daemon's ipvs_proxy_object_errors and
// ipvs_proxy_syncs_total families in the text format.
func gather(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		if n := f.GetName(); n != "ipvs_proxy_object_errors" && n != "ipvs_proxy_syncs_total" {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
