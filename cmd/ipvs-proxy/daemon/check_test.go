package daemon

import (
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
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestCheapChecksRepairBetweenRepairCycles: with the full read-back an hour
// away (RepairPeriod), the cheap checks of every SyncPeriod still find a
// netfilter program changed by someone else and a reset sysctl, and put
// both back within seconds, without listing IPVS; and an IPVS table
// flushed by someone else (ipvsadm -C) is back within seconds too.
func TestCheapChecksRepairBetweenRepairCycles(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	svc := k8stest.Service("ns", "web")
	slice := k8stest.Slice("ns", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")})
	client := fake.NewClientset(node, svc, slice)
	ipvsFake, nf, sys := ipvs.NewFake(), netfilter.NewFake(), nodeSysctls()
	adapters := Adapters{IPVS: ipvsFake, Addresses: addr.NewFake(addr.Config{}), Netfilter: nf,
		Conntrack: conntrack.NewFake(), Sysctl: sys}
	cfg := Config{NodeName: "node-a", Node: testNode, SyncPeriod: 200 * time.Millisecond, RepairPeriod: time.Hour,
		MinSyncPeriod: 10 * time.Millisecond, DrainPollInterval: 50 * time.Millisecond}
	m := metrics.New()
	startDaemon(t, cfg, Deps{Client: kubeapitest.FromClientset(client), Adapters: adapters, Metrics: m})
	waitFor(t, func() bool {
		return ipvsFake.Dump() != "" && nf.Calls(netfilter.CallApply)+nf.Calls(netfilter.CallRepair) > 0
	}, ipvsFake.Dump)
	waitFor(t, func() bool { v, _ := sys.Get("net.ipv4.vs.expire_nodest_conn"); return v == "1" }, sys.Dump)
	ipvsFake.ResetCalls()
	// Idle, the checks keep the last-sync timestamp current, as kube-proxy's
	// periodic sync does (the not-syncing alert reads it).
	before := lastSync(t, m)
	waitFor(t, func() bool { return lastSync(t, m) > before }, func() string { return "no sync while idle" })

	nf.Tamper(func(n *model.Netfilter) { n.Ports = nil })
	must(t, sys.Set("net.ipv4.vs.expire_nodest_conn", "0"))
	waitFor(t, func() bool {
		var intent model.Netfilter
		if applied := nf.Applied(); applied != nil {
			intent = *applied
		}
		return len(intent.Ports) > 0
	}, nf.Dump)
	waitFor(t, func() bool { v, _ := sys.Get("net.ipv4.vs.expire_nodest_conn"); return v == "1" }, sys.Dump)
	for _, c := range []ipvs.Call{ipvs.CallListServices, ipvs.CallListVirtualServers} {
		if n := ipvsFake.Calls(c); n != 0 {
			t.Errorf("%s called %d times between repair cycles", c, n)
		}
	}

	want := ipvsFake.Dump()
	for _, s := range ipvsFake.Services() {
		must(t, ipvsFake.DeleteVirtualServer(s.VSKey))
	}
	waitFor(t, func() bool { return ipvsFake.Dump() == want }, ipvsFake.Dump)
}

// lastSync is kubeproxy_sync_proxy_rules_last_timestamp_seconds (IPv4).
func lastSync(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "kubeproxy_sync_proxy_rules_last_timestamp_seconds" {
			for _, s := range f.GetMetric() {
				return s.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFullBackoff: the IPVS check's Fulls for a kernel that keeps
// differing come one check period, then twice, four times... apart, up to
// the repair period; a check that agrees starts over.
func TestFullBackoff(t *testing.T) {
	const period = 30 * time.Second
	type check struct {
		at    time.Duration
		drift bool
		full  bool
	}
	cases := []struct {
		name   string
		checks []check
	}{
		{name: "one flush repaired", checks: []check{{0, true, true}, {30 * time.Second, false, false},
			{60 * time.Second, true, true}}},
		{name: "a kernel that keeps differing", checks: []check{{0, true, true}, {30 * time.Second, true, true},
			{60 * time.Second, true, false}, {90 * time.Second, true, true}, {120 * time.Second, true, false},
			{180 * time.Second, true, false}, {210 * time.Second, true, true}, {7 * time.Minute, true, false},
			{8 * time.Minute, true, true}, {11 * time.Minute, true, false}, {12 * time.Minute, true, true},
			{15 * time.Minute, true, false}, {16 * time.Minute, true, true}}},
		{name: "an agreeing check starts over", checks: []check{{0, true, true}, {30 * time.Second, true, true},
			{60 * time.Second, false, false}, {90 * time.Second, true, true}, {120 * time.Second, true, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := fullBackoff{first: period, max: 4 * time.Minute}
			for _, c := range tc.checks {
				if got := b.drifted(c.drift, k8stest.Epoch.Add(c.at)); got != c.full {
					t.Errorf("check at %v (drift %v): full %v, want %v", c.at, c.drift, got, c.full)
				}
			}
		})
	}
}
