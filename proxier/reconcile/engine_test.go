package reconcile

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var (
	ep          = k8stest.Endpoint
	terminating = k8stest.Terminating
)

func TestFirstFullProgramsEverything(t *testing.T) {
	r := newRig(t)
	r.web(ep("198.18.10.1"), ep("198.18.10.2"))
	r.src.put(k8stest.Service("ns", "api", k8stest.ClusterIPs("198.18.0.11"), k8stest.NodePort(30080)),
		k8stest.Slice("ns", "api", "api-1", []discovery.Endpoint{ep("198.18.10.3")}))
	r.full()
	r.expectKernel(
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1",
		"-a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 1",
		"-A -t 198.18.0.11:80 -s rr",
		"-a -t 198.18.0.11:80 -r 198.18.10.3:8080 -m -w 1",
		"-A -t 198.18.1.1:30080 -s rr",
		"-a -t 198.18.1.1:30080 -r 198.18.10.3:8080 -m -w 1",
	)
	if got := r.addr.Dump(); !contains(got, "198.18.0.10") || !contains(got, "198.18.0.11") {
		t.Errorf("addresses not bound:\n%s", got)
	}
	if !r.eng.Healthy() {
		t.Error("engine not healthy after a clean full reconcile")
	}
}

func TestNoOpFullReconcileWritesNothing(t *testing.T) {
	r := newRig(t)
	r.web(ep("198.18.10.1"), ep("198.18.10.2", terminating(true)))
	r.full()
	r.resetCounts()
	nfBefore := r.writes()
	res := r.full()
	if res.Writes != 0 || r.writes() != nfBefore {
		t.Errorf("no-op full reconcile wrote: result %d writes, fakes %d", res.Writes, r.writes()-nfBefore)
	}
	if c := r.ipvs.Calls(ipvs.CallListServices); c != 1 {
		t.Errorf("full reconcile dumped the services %d times, want 1", c)
	}
}

// TestIncrementalSyncTouchesOnlyTheChangedService: one endpoint change among
// many services costs exactly its own writes and no kernel reads.
func TestIncrementalSyncTouchesOnlyTheChangedService(t *testing.T) {
	r := newRig(t)
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}).String()
		r.src.put(k8stest.Service("ns", fmt.Sprint("svc-", i), k8stest.ClusterIPs(ip)),
			k8stest.Slice("ns", fmt.Sprint("svc-", i), "s", []discovery.Endpoint{ep("198.18.10.1"), ep("198.18.10.2")}))
	}
	r.full()
	r.resetCounts()
	nf := r.nfWrites()
	name := r.src.put(k8stest.Service("ns", "svc-7", k8stest.ClusterIPs("198.18.0.8")),
		k8stest.Slice("ns", "svc-7", "s", []discovery.Endpoint{ep("198.18.10.1"), ep("198.18.10.3")}))
	res := r.sync(name)
	// 198.18.10.2 was ready and vanished without terminating: it drains at
	// weight 0 (one update) while 198.18.10.3 is added (one add).
	adds, updates := r.ipvs.Calls(ipvs.CallAddRealServer), r.ipvs.Calls(ipvs.CallUpdateRealServer)
	if res.Writes != 2 || adds != 1 || updates != 1 {
		t.Errorf("writes %d, %d adds, %d updates; want one add and one weight update", res.Writes, adds, updates)
	}
	if r.ipvs.Reads() != 0 || r.addr.Reads() != 0 || r.nfWrites() != nf {
		t.Errorf("incremental sync read the kernel (ipvs %d, addr %d) or rewrote netfilter", r.ipvs.Reads(), r.addr.Reads())
	}
	r.expectRoute("tcp 198.18.0.8:80", "198.18.10.1:8080", "198.18.10.3:8080")
	r.expectRoute("tcp 198.18.0.9:80", "198.18.10.1:8080", "198.18.10.2:8080")
}

func TestServiceAddedAndDeletedIncrementally(t *testing.T) {
	r := newRig(t)
	r.full()
	name := r.web(ep("198.18.10.1"))
	r.sync(name)
	r.expectRoute("tcp 198.18.0.10:80", "198.18.10.1:8080")
	if !contains(r.addr.Dump(), "198.18.0.10") {
		t.Errorf("address not bound:\n%s", r.addr.Dump())
	}
	r.src.remove(name)
	r.sync(name)
	r.expectKernel()
	if contains(r.addr.Dump(), "198.18.0.10") {
		t.Errorf("address still bound:\n%s", r.addr.Dump())
	}
	if nf := r.eng.applied.Netfilter; len(nf.Ports) != 0 {
		t.Errorf("netfilter still has ports: %v", nf.Lines())
	}
}

func TestDriftRepairedByFullReconcile(t *testing.T) {
	r := newRig(t)
	r.web(ep("198.18.10.1"), ep("198.18.10.2"))
	r.full()
	// Someone deletes a destination and adds a stray one on our address.
	must(t, r.ipvs.DeleteRealServer(key(t, "tcp 198.18.0.10:80"), rsKey("198.18.10.2:8080")))
	must(t, r.ipvs.AddVirtualServer(model.VirtualServer{VSKey: key(t, "udp 198.18.0.10:99"), Scheduler: "rr"}))
	r.full()
	r.expectKernel(
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1",
		"-a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 1",
	)
	// ipvsadm -C: everything is restored.
	for _, s := range r.kernel().Services {
		must(t, r.ipvs.DeleteVirtualServer(s.VSKey))
	}
	r.full()
	r.expectRoute("tcp 198.18.0.10:80", "198.18.10.1:8080", "198.18.10.2:8080")
}

func TestForeignAndExcludedVirtualServersUntouched(t *testing.T) {
	r := newRig(t)
	r.owner = Owner{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.200.0/24")}}
	r.restart()
	foreign := []*model.Service{
		{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.50.1:80"), Scheduler: "wlc"}},  // keepalived
		{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.1.1:8443"), Scheduler: "rr"}},  // node IP, not a node port
		{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.200.5:80"), Scheduler: "rr"}},  // excluded, even if bound
		{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.1.1:30999"), Scheduler: "rr"}}, // stale node port: ours
		{VirtualServer: model.VirtualServer{VSKey: key(t, "tcp 198.18.0.99:80"), Scheduler: "rr"}},   // stale, bound: ours
	}
	r.ipvs.Seed(foreign...)
	r.addr.SeedInterface(netip.MustParseAddr("198.18.200.5"), netip.MustParseAddr("198.18.0.99"))
	r.web(ep("198.18.10.1"))
	r.full()
	k := r.kernel()
	for _, want := range []string{"tcp 198.18.50.1:80", "tcp 198.18.1.1:8443", "tcp 198.18.200.5:80", "tcp 198.18.0.10:80"} {
		if _, ok := k.Services[key(t, want)]; !ok {
			t.Errorf("%s was removed", want)
		}
	}
	for _, gone := range []string{"tcp 198.18.1.1:30999", "tcp 198.18.0.99:80"} {
		if _, ok := k.Services[key(t, gone)]; ok {
			t.Errorf("stale %s was kept", gone)
		}
	}
	if d := r.addr.Dump(); !contains(d, "198.18.200.5") || contains(d, "198.18.0.99") {
		t.Errorf("addresses:\n%s", d)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestDryRunWritesNothing(t *testing.T) {
	r := newRig(t)
	eng, err := New(Config{DryRun: true, IPVS: r.ipvs, Addresses: r.addr, Netfilter: r.nf, Conntrack: r.ct, Clock: r.clock}, r.src, r.node)
	must(t, err)
	r.eng = eng
	r.web(ep("198.18.10.1"))
	res := r.eng.Full(r.ctx, nil, false)
	if res.Writes != 0 || r.writes() != 0 {
		t.Errorf("dry run wrote: result %+v, fakes %d", res, r.writes())
	}
	r.expectKernel()
	if _, ok := r.eng.applied.Services[key(t, webVS)]; !ok {
		t.Error("dry run did not record the plan as applied")
	}
}

func TestHealthChecksReportedOnChange(t *testing.T) {
	r := newRig(t)
	local := func(eps ...discovery.Endpoint) types.NamespacedName {
		return r.src.put(k8stest.Service("ns", "lb", k8stest.LoadBalancer(30080, "198.18.5.5"), k8stest.ExternalLocal,
			func(s *v1.Service) { s.Spec.HealthCheckNodePort = 32000 }), k8stest.Slice("ns", "lb", "lb-1", eps))
	}
	name := local(ep("198.18.10.1", k8stest.OnNode("node-a")))
	r.full()
	hc, changed := r.eng.HealthChecks()
	if !changed || hc[name] != (HealthCheck{Port: 32000, LocalEndpoints: 1}) {
		t.Fatalf("health checks %v changed %v", hc, changed)
	}
	if _, changed := r.eng.HealthChecks(); changed {
		t.Error("reported a change twice")
	}
	r.sync(local(ep("198.18.10.2")))
	if hc, changed := r.eng.HealthChecks(); !changed || hc[name].LocalEndpoints != 0 {
		t.Errorf("after the local endpoint left: %v %v", hc, changed)
	}
}

// TestNoLocalEndpointsCounted: the engine counts the services whose Local
// policy finds no endpoint on this node, per family and policy, and keeps
// the count through incremental syncs and deletions.
func TestNoLocalEndpointsCounted(t *testing.T) {
	r := newRig(t)
	put := func(name string, mut func(*v1.Service), eps ...discovery.Endpoint) types.NamespacedName {
		return r.src.put(k8stest.Service("ns", name, k8stest.ClusterIPs("198.18.0."+strconv.Itoa(len(name))), mut),
			k8stest.Slice("ns", name, name+"-1", eps))
	}
	expect := func(internal, external int) {
		t.Helper()
		i, e := r.eng.NoLocalEndpoints()
		if i != [2]int{internal, 0} || e != [2]int{external, 0} {
			t.Errorf("no local endpoints: internal %v external %v, want [%d 0] [%d 0]", i, e, internal, external)
		}
	}
	lb := func(s *v1.Service) {
		k8stest.LoadBalancer(30080, "198.18.5.5")(s)
		k8stest.ExternalLocal(s)
	}
	a := put("a", k8stest.InternalLocal, ep("198.18.10.2"))
	put("bb", lb, ep("198.18.10.3"))
	r.full()
	expect(1, 1)
	r.sync(put("a", k8stest.InternalLocal, ep("198.18.10.2", k8stest.OnNode("node-a"))))
	expect(0, 1)
	r.src.remove(types.NamespacedName{Namespace: "ns", Name: "bb"})
	r.sync(types.NamespacedName{Namespace: "ns", Name: "bb"}, a)
	expect(0, 0)
}

// An older service that claims a virtual server a younger one holds takes
// it over in one incremental sync, and the result reports the younger
// one's new conflict although only the older one changed; when the older
// one goes, the younger one gets it back and its problem is gone.
func TestSyncReportsConflictsOfServicesNotChanged(t *testing.T) {
	r := newRig(t)
	young := r.src.put(k8stest.Service("ns", "a-young", k8stest.ClusterIPs("198.18.0.20")),
		k8stest.Slice("ns", "a-young", "y-1", []discovery.Endpoint{ep("198.18.10.1")}))
	r.full()
	older := k8stest.Service("ns", "b-old", k8stest.ClusterIPs("198.18.0.20"))
	older.CreationTimestamp.Time = k8stest.Epoch.Add(-time.Hour)
	old := r.src.put(older, k8stest.Slice("ns", "b-old", "o-1", []discovery.Endpoint{ep("198.18.10.2")}))

	res := r.sync(old)
	r.expectRoute("tcp 198.18.0.20:80", "198.18.10.2:8080")
	if !slices.Contains(res.Rebuilt, young) || len(res.Problems) != 1 || res.Problems[0].Service != young {
		t.Errorf("after the older service came: rebuilt %v, problems %v; want a-young's conflict", res.Rebuilt, res.Problems)
	}
	r.src.remove(old)
	res = r.sync(old)
	r.expectRoute("tcp 198.18.0.20:80", "198.18.10.1:8080")
	if !slices.Contains(res.Rebuilt, young) || len(res.Problems) != 0 {
		t.Errorf("after the older service left: rebuilt %v, problems %v; want a-young listed without problems", res.Rebuilt, res.Problems)
	}
}
