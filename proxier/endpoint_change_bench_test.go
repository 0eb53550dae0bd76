package proxier_test

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/tracker"
)

// BenchmarkEndpointChange measures one endpoint change from the tracker
// update to the fake kernel: tracker event, Take, incremental Sync (rebuild,
// diff, write). Time and kernel calls per change must be flat in the number
// of services.
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) { benchEndpointChange(b, n) })
	}
}

// engineFixture is an engine on the fakes, fed through a tracker with n
// services of 10 endpoints each (n up to 100,000), after its first full
// sync.
type engineFixture struct {
	tr     *tracker.Tracker
	slices []*discovery.EndpointSlice
	ipvs   *ipvs.Fake
	addrs  *addr.Fake
	nf     *netfilter.Fake
	eng    *reconcile.Engine
}

// newEngineFixture is an engine on the fakes over n services × 10
// endpoints after its first sync; opts change its configuration.
func newEngineFixture(b *testing.B, n int, opts ...func(*reconcile.Config)) *engineFixture {
	ctx := klog.NewContext(context.Background(), klog.Background().V(1))
	fx := &engineFixture{tr: tracker.New(nil), slices: make([]*discovery.EndpointSlice, n), ipvs: ipvs.NewFake(),
		addrs: addr.NewFake(addr.Config{}), nf: netfilter.NewFake()}
	for i := range n {
		name := fmt.Sprint("svc-", i)
		ip := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}).String()
		fx.tr.OnService(nil, k8stest.Service("ns", name, k8stest.ClusterIPs(ip)))
		eps := make([]discovery.Endpoint, 10)
		for j := range eps {
			k := i*10 + j
			eps[j] = k8stest.Endpoint(netip.AddrFrom4([4]byte{198, 19, byte(k >> 8), byte(k)}).String())
		}
		fx.slices[i] = k8stest.Slice("ns", name, name+"-1", eps)
		fx.tr.OnEndpointSlice(nil, proxier.NewSlice(fx.slices[i]))
	}
	for _, k := range []tracker.Kind{tracker.Services, tracker.EndpointSlices, tracker.Node} {
		fx.tr.SetSynced(k)
	}
	if err := fx.addrs.EnsureInterface(); err != nil {
		b.Fatal(err)
	}
	// Above every cluster IP up to 100,000 services (198.19.134.159).
	node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.19.255.254")}}
	cfg := reconcile.Config{IPVS: fx.ipvs, Addresses: fx.addrs, Netfilter: fx.nf, Conntrack: conntrack.NewFake()}
	for _, o := range opts {
		o(&cfg)
	}
	eng, err := reconcile.New(cfg, fx.tr.Store(), node)
	if err != nil {
		b.Fatal(err)
	}
	fx.eng = eng
	fx.tr.Take()
	if res := eng.Full(ctx, nil, false); res.Failures > 0 {
		b.Fatal("initial sync failed")
	}
	return fx
}

func benchEndpointChange(b *testing.B, n int) {
	ctx := klog.NewContext(context.Background(), klog.Background().V(1))
	fx := newEngineFixture(b, n)
	tr, slices, fake, addrs, nf, eng := fx.tr, fx.slices, fx.ipvs, fx.addrs, fx.nf, fx.eng
	fake.ResetCalls()
	addrs.ResetCalls()
	nfBefore := nfWrites(nf)
	b.ReportAllocs()
	b.ResetTimer()
	changes := 0
	for b.Loop() {
		// Toggle the first endpoint of one service between ready and
		// terminating: one weight update each time.
		i := changes % n
		prev := slices[i]
		cur := prev.DeepCopy()
		cur.ResourceVersion = fmt.Sprint(changes)
		c := &cur.Endpoints[0].Conditions
		*c = discovery.EndpointConditions{Ready: new(!*c.Ready), Serving: new(true), Terminating: new(*c.Ready)}
		slices[i] = cur
		tr.OnEndpointSlice(proxier.NewSlice(prev), proxier.NewSlice(cur))
		ch := tr.Take()
		if res := eng.Sync(ctx, ch.Services); res.Writes != 1 || res.Failures != 0 {
			b.Fatalf("change %d: %+v", changes, res)
		}
		changes++
	}
	b.StopTimer()
	// Kernel operations: each IPVS operation counts once whether it went
	// alone or in a batch (the batch itself is one netlink write).
	calls := fake.Reads() + fake.Writes() + addrs.Reads() + addrs.Writes() + nfWrites(nf) - nfBefore
	b.ReportMetric(float64(calls)/float64(changes), "kernel-calls/change")
}

// BenchmarkNoOpFullReconcile measures a periodic full reconcile when nothing
// changed: one dump of the kernel, a diff of everything, zero writes.
func BenchmarkNoOpFullReconcile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := klog.NewContext(context.Background(), klog.Background().V(1))
			fx := newEngineFixture(b, n)
			fx.ipvs.ResetCalls()
			fx.addrs.ResetCalls()
			nf := nfWrites(fx.nf)
			b.ReportAllocs()
			b.ResetTimer()
			runs := 0
			for b.Loop() {
				if res := fx.eng.Full(ctx, nil, false); res.Writes != 0 {
					b.Fatalf("no-op full reconcile wrote %d times", res.Writes)
				}
				runs++
			}
			b.StopTimer()
			writes := fx.ipvs.Writes() + fx.addrs.Writes() + nfWrites(fx.nf) - nf
			dumps := fx.ipvs.Calls(ipvs.CallListServices) + fx.addrs.Reads()
			b.ReportMetric(float64(writes)/float64(runs), "writes/op")
			b.ReportMetric(float64(dumps)/float64(runs), "dumps/op")
		})
	}
}

// BenchmarkRepairCycle measures the paced periodic repair over a kernel
// that matches, configured as the daemon runs it: the listings and the
// chunks' real-server reads off the sync goroutine (IPVSLister and
// AddressLister on the fakes). One op is a whole cycle: the address step
// and the virtual-server step, each a listing compared 1,000 entries a
// step, and one step per 500 virtual servers' real servers. It reports the
// steps the runner plans per cycle, the time the cycle held the sync
// goroutine in all and the longest single step: what an endpoint change
// can wait behind.
func BenchmarkRepairCycle(b *testing.B) {
	listers := func(c *reconcile.Config) { c.IPVSLister, c.AddressLister = c.IPVS, c.Addresses }
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := klog.NewContext(context.Background(), klog.Background().V(1))
			fx := newEngineFixture(b, n, listers)
			b.ReportAllocs()
			b.ResetTimer()
			cycles, planned := 0, 0
			var held, longest time.Duration
			for b.Loop() {
				planned += fx.eng.RepairSteps()
				for done := false; !done; {
					start := time.Now()
					var res reconcile.Result
					res, done = fx.eng.Repair(ctx, nil)
					took := time.Since(start)
					held, longest = held+took, max(longest, took)
					if res.Writes != 0 || res.Failures != 0 {
						b.Fatalf("a repair step over a matching kernel wrote %d times, failed %d", res.Writes, res.Failures)
					}
					runtime.Gosched() // the reads off the sync goroutine
				}
				cycles++
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(float64(planned)/float64(cycles), "steps/op")
			b.ReportMetric(ms(held)/float64(cycles), "held-ms/op")
			b.ReportMetric(ms(longest), "max-step-ms")
		})
	}
}

// nfWrites counts netfilter transactions: full applies and updates.
func nfWrites(f *netfilter.Fake) int {
	return f.Calls(netfilter.CallApply) + f.Calls(netfilter.CallUpdate)
}

// BenchmarkServiceChange measures adding one service (and removing it
// again, alternately) among n: its virtual server, address and netfilter
// entries. Unlike an endpoint change it touches the netfilter intent.
func BenchmarkServiceChange(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := klog.NewContext(context.Background(), klog.Background().V(1))
			fx := newEngineFixture(b, n)
			svc := k8stest.Service("ns", "extra", k8stest.ClusterIPs("198.19.255.253")) // beside no cluster IP of the fixture's
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					fx.tr.OnService(nil, svc)
				} else {
					fx.tr.OnService(svc, nil)
				}
				if res := fx.eng.Sync(ctx, fx.tr.Take().Services); res.Failures != 0 {
					b.Fatalf("sync: %+v", res)
				}
				i++
			}
		})
	}
}

// BenchmarkRestartAdopt measures a restart over a kernel that already
// holds everything: the first Full of a new engine (every service rebuilt,
// the addresses listed, the netfilter program read back; above one repair
// chunk the IPVS state is assumed from the netfilter record instead of
// read) and then, reported apart as verify-ms/op, the adopting repair
// cycle that reads it all. Neither writes. The fakes cost no syscalls, so
// this is the proxy's own share of a restart.
func BenchmarkRestartAdopt(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := klog.NewContext(context.Background(), klog.Background().V(1))
			fx := newEngineFixture(b, n)
			cfg := reconcile.Config{IPVS: fx.ipvs, Addresses: fx.addrs, Netfilter: fx.nf, Conntrack: conntrack.NewFake()}
			node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.19.255.254")}}
			b.ReportAllocs()
			b.ResetTimer()
			var verify time.Duration
			for b.Loop() {
				eng, err := reconcile.New(cfg, fx.tr.Store(), node)
				if err != nil {
					b.Fatal(err)
				}
				if res := eng.Full(ctx, nil, false); res.Writes != 0 || res.Failures != 0 {
					b.Fatalf("a restart over a matching kernel wrote %d times, failed %d", res.Writes, res.Failures)
				}
				b.StopTimer()
				start := time.Now()
				for eng.Adopting() {
					if res, _ := eng.Repair(ctx, nil); res.Writes != 0 || res.Failures != 0 {
						b.Fatalf("the adopting cycle over a matching kernel wrote %d times, failed %d", res.Writes, res.Failures)
					}
				}
				verify += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(verify.Microseconds())/1000/float64(b.N), "verify-ms/op")
		})
	}
}
