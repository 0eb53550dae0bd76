package proxier_test

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkEngineHeap reports the heap the reconcile engine alone retains
// after its first full sync of n services × 10 endpoints (desired state,
// applied state, statuses): the live heap with the engine, less the live
// heap once it is dropped (the Kubernetes objects, the tracker and the fake
// kernel stay). Issue 14 budgets the daemon's memory; this is the engine's
// share, the informer cache being the other large one.
func BenchmarkEngineHeap(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			var retained float64
			for b.Loop() {
				fx := newEngineFixture(b, n)
				with := liveHeap()
				fx.eng = nil
				retained += float64(with - liveHeap())
				runtime.KeepAlive(fx)
			}
			b.ReportMetric(retained/float64(b.N)/1e6, "engine-MB")
			b.ReportMetric(retained/float64(b.N)/float64(n), "engine-B/service")
		})
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
