package proxier

import (
	"fmt"
	"net/netip"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// scaleFixture makes n ClusterIP services with m ready endpoints each, cluster
// IPs in 198.18.0.0/16 and endpoints in 198.19.0.0/16.
func scaleFixture(n, m int) ([]*v1.Service, []*discovery.EndpointSlice) {
	svcs := make([]*v1.Service, 0, n)
	sls := make([]*discovery.EndpointSlice, 0, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%d", i)
		ip := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()
		svcs = append(svcs, makeService("ns", name, clusterIPs(ip)))
		eps := make([]discovery.Endpoint, m)
		for j := range eps {
			k := i*m + j
			eps[j] = ep(netip.AddrFrom4([4]byte{198, 19, byte(k >> 8), byte(k)}).String())
		}
		sls = append(sls, makeSlice("ns", name, name+"-1", eps))
	}
	return svcs, sls
}

// BenchmarkBuildDiff measures a full recompute: Build of every service plus
// Diff against the previous state (which differs by one endpoint).
func BenchmarkBuildDiff(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			benchBuildDiff(b, n, 10)
		})
	}
}

// BenchmarkBuildDiffEndpoints completes issue 8's grid with 1 and 100
// endpoints per service (BenchmarkBuildDiff has 10).
func BenchmarkBuildDiffEndpoints(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		for _, m := range []int{1, 100} {
			b.Run(fmt.Sprintf("services=%d/endpoints=%d", n, m), func(b *testing.B) {
				benchBuildDiff(b, n, m)
			})
		}
	}
}

func benchBuildDiff(b *testing.B, n, m int) {
	svcs, sls := scaleFixture(n, m)
	node := testNode()
	prev, _ := Build(svcs, sls, node, Config{})
	sls[n/2] = sls[n/2].DeepCopy()
	sls[n/2].Endpoints[0].Conditions.Ready = new(false)
	b.ReportAllocs()
	b.ResetTimer()
	var plan *model.Plan
	for b.Loop() {
		st, _ := Build(svcs, sls, node, Config{})
		plan = Diff(st, prev)
	}
	b.ReportMetric(float64(plan.Len()), "ops")
}
