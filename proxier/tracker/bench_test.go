package tracker

import (
	"fmt"
	"testing"

	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// BenchmarkEndpointSliceUpdate measures one real slice update followed by
// the Take and Store lookup an incremental sync does, with many unchanged
// services around. Time per op must not grow with the number of services.
func BenchmarkEndpointSliceUpdate(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			tr := New(nil)
			for i := range n {
				name := fmt.Sprintf("s%d", i)
				tr.OnService(nil, makeService("ns", name))
				tr.OnEndpointSlice(nil, proxier.NewSlice(makeSlice("ns", name+"-1", name)))
			}
			tr.Take()
			cur := makeSlice("ns", "s7-1", "s7")
			alt := []string{"198.18.200.2", "198.18.200.3"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				next := updSlice(cur, func(s *discovery.EndpointSlice) { s.Endpoints[0].Addresses[0] = alt[i%2] })
				tr.OnEndpointSlice(proxier.NewSlice(cur), proxier.NewSlice(next))
				c := tr.Take()
				if len(c.Services) != 1 {
					b.Fatalf("Take() = %v, want one service", c.Services)
				}
				tr.Store().Service(c.Services[0])
				tr.Store().EndpointSlices(c.Services[0])
				cur = next
			}
		})
	}
}
