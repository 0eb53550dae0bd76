package reconcile

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

const webVS = "tcp 198.18.0.10:80"

// setConns sets the connection counters of a real server of web.
func (r *rig) setConns(rs string, active, inactive uint32) {
	r.t.Helper()
	must(r.t, r.ipvs.SetStats(key(r.t, webVS), rsKey(rs), model.RealServerStats{ActiveConns: active, InactiveConns: inactive}))
}

func TestDrainTerminatingEndpointStaysAtWeightZero(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.setConns("198.18.10.2:8080", 3, 0)
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2", terminating(true))))
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1",
		"-a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 0")
	// No timer: the pod is alive and its grace period bounds it.
	r.advance(time.Hour)
	r.eng.PollDrains(r.ctx)
	r.expectRoute(webVS, "198.18.10.1:8080")
	if _, ok := r.kernel().Services[key(t, webVS)].Real(rsKey("198.18.10.2:8080")); !ok {
		t.Error("terminating endpoint's real server was deleted while still in its slice")
	}
}

func TestDrainRemovedAfterTerminatingIsDeletedAtOnce(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2", terminating(true))))
	r.setConns("198.18.10.2:8080", 3, 1)
	r.sync(r.web(ep("198.18.10.1")))
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
	if r.eng.Draining() != 0 {
		t.Errorf("%d drains, want 0", r.eng.Draining())
	}
}

func TestDrainVanishedEndpointEndsWhenIdle(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.setConns("198.18.10.2:8080", 2, 0)
	// The endpoint turns not-ready without terminating (a crash).
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2", k8stest.NotReady)))
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1",
		"-a -t 198.18.0.10:80 -r 198.18.10.2:8080 -m -w 0")
	r.advance(2 * time.Second)
	r.eng.PollDrains(r.ctx)
	if r.eng.Draining() != 1 {
		t.Fatalf("drain ended with connections left")
	}
	r.setConns("198.18.10.2:8080", 0, 0)
	r.advance(2 * time.Second)
	r.eng.PollDrains(r.ctx)
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
}

func TestDrainTimeoutBoundsADeadBackend(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.setConns("198.18.10.2:8080", 5, 0) // connections that will never close
	r.sync(r.web(ep("198.18.10.1")))     // removed without terminating
	r.advance(DefaultDrainTimeout - time.Second)
	r.eng.PollDrains(r.ctx)
	if r.eng.Draining() != 1 {
		t.Fatal("drain ended before its timeout")
	}
	r.advance(time.Second)
	r.eng.PollDrains(r.ctx)
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
}

func TestDrainRevivedEndpointReturnsToWeightOne(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.setConns("198.18.10.2:8080", 1, 0)
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2", k8stest.NotReady)))
	r.resetCounts()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.expectRoute(webVS, "198.18.10.1:8080", "198.18.10.2:8080")
	if d, u := r.ipvs.Calls(ipvs.CallDeleteRealServer), r.ipvs.Calls(ipvs.CallUpdateRealServer); d != 0 || u != 1 {
		t.Errorf("%d deletes, %d updates: want one weight update and no delete", d, u)
	}
	if r.eng.Draining() != 0 {
		t.Error("revived endpoint still draining")
	}
}

func TestDrainUDPDeletedAtOnceWithConntrack(t *testing.T) {
	r := newRig(t)
	r.full()
	dns := k8stest.Service("kube-system", "dns", k8stest.ClusterIPs("198.18.0.53"), k8stest.Protocol("UDP"))
	slice := func(eps ...discovery.Endpoint) *discovery.EndpointSlice {
		return k8stest.Slice("kube-system", "dns", "dns-1", eps, k8stest.SliceProtocol("UDP"))
	}
	name := r.src.put(dns, slice(ep("198.18.11.1"), ep("198.18.11.2")))
	r.sync(name)
	vip := netip.MustParseAddrPort("198.18.0.53:80")
	entry := func(client, backend string) conntrack.Entry {
		return conntrack.Entry{Proto: model.UDP, Orig: conntrack.Tuple{Src: netip.MustParseAddrPort(client), Dst: vip},
			Reply: conntrack.Tuple{Src: netip.MustParseAddrPort(backend), Dst: netip.MustParseAddrPort(client)}}
	}
	r.ct.Seed(entry("198.18.50.2:4000", "198.18.11.1:8080"), entry("198.18.50.2:4001", "198.18.11.2:8080"))
	r.src.put(dns, slice(ep("198.18.11.1"), ep("198.18.11.2", terminating(true))))
	r.sync(name)
	r.src.put(dns, slice(ep("198.18.11.1")))
	r.sync(name)
	r.expectKernel("-A -u 198.18.0.53:80 -s rr",
		"-a -u 198.18.0.53:80 -r 198.18.11.1:8080 -m -w 1")
	entries, err := r.ct.List(model.UDP)
	must(t, err)
	if len(entries) != 1 || entries[0].Reply.Src.Addr() != netip.MustParseAddr("198.18.11.1") {
		t.Errorf("conntrack after removal: %v", entries)
	}
}

func TestUDPServiceGettingFirstBackendFlushesConntrack(t *testing.T) {
	r := newRig(t)
	dns := k8stest.Service("kube-system", "dns", k8stest.ClusterIPs("198.18.0.53"), k8stest.Protocol("UDP"))
	name := r.src.put(dns)
	r.full()
	vip := netip.MustParseAddrPort("198.18.0.53:80")
	// A client's datagrams went nowhere while the service had no endpoint.
	r.ct.Seed(conntrack.Entry{Proto: model.UDP, Orig: conntrack.Tuple{Src: netip.MustParseAddrPort("198.18.50.2:4000"), Dst: vip},
		Reply: conntrack.Tuple{Src: vip, Dst: netip.MustParseAddrPort("198.18.50.2:4000")}})
	r.src.put(dns, k8stest.Slice("kube-system", "dns", "dns-1", []discovery.Endpoint{ep("198.18.11.1")}, k8stest.SliceProtocol("UDP")))
	r.sync(name)
	if entries, _ := r.ct.List(model.UDP); len(entries) != 0 {
		t.Errorf("stale entries kept: %v", entries)
	}
}

// TestRestartAdoptsWithoutWrites: a restarted engine on an unchanged kernel
// writes nothing, and destinations left at weight 0 rejoin the drain logic.
func TestRestartAdoptsWithoutWrites(t *testing.T) {
	r := newRig(t)
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2", terminating(true))))
	r.restart()
	r.resetCounts()
	nf := r.nfWrites()
	res := r.full()
	if res.Writes != 0 || r.ipvs.Writes() != 0 || r.addr.Writes() != 0 {
		t.Errorf("restart wrote: %d (ipvs %d, addr %d)", res.Writes, r.ipvs.Writes(), r.addr.Writes())
	}
	// netfilter: verified, not rewritten.
	if r.nfWrites() != nf {
		t.Errorf("netfilter written %d times", r.nfWrites()-nf)
	}
	// The terminating endpoint's pod goes away while we were down: the
	// weight-0 destination drains (bounded), it is not deleted blindly.
	r.restart()
	r.web(ep("198.18.10.1"))
	r.setConns("198.18.10.2:8080", 1, 0)
	r.full()
	if r.eng.Draining() != 1 {
		t.Fatalf("adopted weight-0 destination not draining")
	}
	r.advance(DefaultDrainTimeout)
	r.eng.PollDrains(r.ctx)
	r.expectKernel("-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
}

// TestAdoptsKubeProxyState: kube-proxy's IPVS layout (same dummy interface,
// same virtual servers) is taken over without a single IPVS write.
func TestAdoptsKubeProxyState(t *testing.T) {
	r := newRig(t)
	r.ipvs.Seed(&model.Service{VirtualServer: model.VirtualServer{VSKey: key(t, webVS), Scheduler: "rr"},
		Reals: []model.RealServer{{RSKey: rsKey("198.18.10.1:8080"), Weight: 1}, {RSKey: rsKey("198.18.10.2:8080"), Weight: 1}}})
	r.addr.SeedInterface(netip.MustParseAddr("198.18.0.10"))
	r.web(ep("198.18.10.1"), ep("198.18.10.2"))
	r.resetCounts()
	res := r.full()
	if r.ipvs.Writes() != 0 || r.addr.Writes() != 0 {
		t.Errorf("adoption wrote: %d writes (ipvs %d, addr %d)", res.Writes, r.ipvs.Writes(), r.addr.Writes())
	}
}

func TestNoNotReadyDrainDeletesAtOnce(t *testing.T) {
	r := newRig(t)
	eng, err := New(Config{NoNotReadyDrain: true, IPVS: r.ipvs, Addresses: r.addr, Netfilter: r.nf, Conntrack: r.ct, Clock: r.clock}, r.src, r.node)
	must(t, err)
	r.eng = eng
	r.full()
	r.sync(r.web(ep("198.18.10.1"), ep("198.18.10.2")))
	r.setConns("198.18.10.2:8080", 4, 0)
	r.sync(r.web(ep("198.18.10.1")))
	r.expectKernel("-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.10.1:8080 -m -w 1")
}

// conntrackMetrics records ConntrackCleared calls.
type conntrackMetrics struct {
	NopMetrics
	cleared map[string]int
}

func (m *conntrackMetrics) ConntrackCleared(family string, _ time.Duration, n int) {
	m.cleared[family] += n
}

// TestConntrackClearedPerFamily: the stale entries of a dual-stack UDP
// service are cleared one family at a time and reported per family, as
// kube-proxy's per-family conntrack reconciler reports them
// (kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family}).
func TestConntrackClearedPerFamily(t *testing.T) {
	r := newRig(t)
	r.node.IPs = append(r.node.IPs, netip.MustParseAddr("fd00::1:1"))
	m := &conntrackMetrics{cleared: map[string]int{}}
	eng, err := New(Config{IPVS: r.ipvs, Addresses: r.addr, Netfilter: r.nf, Conntrack: r.ct, Clock: r.clock, Metrics: m}, r.src, r.node)
	must(t, err)
	r.eng = eng
	dns := k8stest.Service("kube-system", "dns", k8stest.ClusterIPs("198.18.0.53", "fd00::53"), k8stest.Protocol("UDP"))
	name := r.src.put(dns)
	r.full()
	stale := func(client, vip string) conntrack.Entry {
		c, v := netip.MustParseAddrPort(client), netip.MustParseAddrPort(vip)
		return conntrack.Entry{Proto: model.UDP, Orig: conntrack.Tuple{Src: c, Dst: v}, Reply: conntrack.Tuple{Src: v, Dst: c}}
	}
	r.ct.Seed(stale("198.18.50.2:4000", "198.18.0.53:80"), stale("198.18.50.3:4000", "198.18.0.53:80"),
		stale("[fd00::50:2]:4000", "[fd00::53]:80"))
	r.src.put(dns, k8stest.Slice("kube-system", "dns", "dns-4", []discovery.Endpoint{ep("198.18.11.1")}, k8stest.SliceProtocol("UDP")),
		k8stest.Slice("kube-system", "dns", "dns-6", []discovery.Endpoint{ep("fd00::11:1")}, k8stest.SliceProtocol("UDP")))
	r.sync(name)
	if want := map[string]int{"IPv4": 2, "IPv6": 1}; !maps.Equal(m.cleared, want) {
		t.Errorf("cleared per family %v, want %v", m.cleared, want)
	}
}
