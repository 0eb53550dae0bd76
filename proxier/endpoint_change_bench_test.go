package proxier_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

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

func benchEndpointChange(b *testing.B, n int) {
	ctx := klog.NewContext(context.Background(), klog.Background().V(1))
	tr := tracker.New(nil)
	slices := make([]*discovery.EndpointSlice, n)
	for i := range n {
		name := fmt.Sprint("svc-", i)
		ip := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()
		tr.OnService(nil, k8stest.Service("ns", name, k8stest.ClusterIPs(ip)))
		eps := make([]discovery.Endpoint, 10)
		for j := range eps {
			k := i*10 + j
			eps[j] = k8stest.Endpoint(netip.AddrFrom4([4]byte{198, 19, byte(k >> 8), byte(k)}).String())
		}
		slices[i] = k8stest.Slice("ns", name, name+"-1", eps)
		tr.OnEndpointSlice(nil, slices[i])
	}
	for _, k := range []tracker.Kind{tracker.Services, tracker.EndpointSlices, tracker.Node} {
		tr.SetSynced(k)
	}
	fake := ipvs.NewFake()
	addrs := addr.NewFake(addr.Config{})
	if err := addrs.EnsureInterface(); err != nil {
		b.Fatal(err)
	}
	nf := netfilter.NewFake()
	node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.255.1")}}
	eng, err := reconcile.New(reconcile.Config{IPVS: fake, Addresses: addrs, Netfilter: nf, Conntrack: conntrack.NewFake()}, tr.Store(), node)
	if err != nil {
		b.Fatal(err)
	}
	tr.Take()
	if res := eng.Full(ctx, nil, false); res.Failures > 0 {
		b.Fatal("initial sync failed")
	}
	fake.ResetCalls()
	addrs.ResetCounts()
	nfBefore := nf.Calls(netfilter.MethodApply)
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
		tr.OnEndpointSlice(prev, cur)
		ch := tr.Take()
		if res := eng.Sync(ctx, ch.Services); res.Writes != 1 || res.Failures != 0 {
			b.Fatalf("change %d: %+v", changes, res)
		}
		changes++
	}
	b.StopTimer()
	calls := 0
	for _, c := range fake.Calls() {
		calls += c
	}
	calls += addrs.Counts().Reads + addrs.Counts().Writes + nf.Calls(netfilter.MethodApply) - nfBefore
	b.ReportMetric(float64(calls)/float64(changes), "kernel-calls/change")
}
