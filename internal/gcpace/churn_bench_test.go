package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// BenchmarkChurn compares the collector's cost under GOGC=50 and under a
// Pacer at 50 while a large live heap (256 MB of small pointerful objects,
// a proxy's caches) sees a burst: 64 MB of it replaced, garbage allocated
// beside. It reports the collections, the collector's and the scavenger's
// CPU (runtime/metrics) and the peak of the runtime's mapped, unreleased
// memory.
func BenchmarkChurn(b *testing.B) {
	for _, mode := range []string{"gogc50", "paced"} {
		b.Run(mode, func(b *testing.B) {
			prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
			defer func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) }()
			var p *Pacer
			if mode == "paced" {
				p = Start(50)
				defer p.Stop()
			} else {
				debug.SetGCPercent(50)
				debug.SetMemoryLimit(math.MaxInt64)
			}
			const objects = 256 << 20 / 64
			live := make([]*node, objects)
			for i := range live {
				live[i] = &node{}
			}
			runtime.GC()
			before := readCosts()
			var peak uint64
			for b.Loop() {
				for i := range objects / 4 { // a quarter replaced
					live[(i*7919)%objects] = &node{}
					_ = make([]byte, 256) // garbage beside
					if i%4096 == 0 {
						peak = max(peak, readCosts().footprint)
					}
				}
			}
			after := readCosts()
			runtime.KeepAlive(live)
			n := float64(b.N)
			b.ReportMetric((after.cycles-before.cycles)/n, "gc/op")
			b.ReportMetric((after.gcCPU-before.gcCPU)/n, "gc-cpu-s/op")
			b.ReportMetric((after.scavengeCPU-before.scavengeCPU)/n, "scavenge-cpu-s/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
		})
	}
}

// node is a small pointerful object, as most of a proxy's cache is.
type node struct {
	next *node
	a, b string
	_    [16]byte
}

type costs struct {
	cycles, gcCPU, scavengeCPU float64
	footprint                  uint64
}

func readCosts() costs {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/scavenge/total:cpu-seconds"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return costs{cycles: float64(s[0].Value.Uint64()), gcCPU: s[1].Value.Float64(), scavengeCPU: s[2].Value.Float64(),
		footprint: s[3].Value.Uint64() - s[4].Value.Uint64()}
}
