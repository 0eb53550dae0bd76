// Package gcpace paces the Go garbage collector of a daemon whose heap is
// steady while it is idle, as a node proxy's is between changes.
//
// With a GC percent (GOGC) set, the runtime also forces a collection
// whenever two minutes pass without one. An idle proxy allocates almost
// nothing (10k services × 10 endpoints: 5.5 MB in 4 minutes, T2255Z), so
// nearly every idle collection is a forced one, and each marks the whole
// live heap: 0.33 s of CPU at 10k in the test VM, 6.7 s at 100k, most of
// the idle cost (docs/performance.md, "Idle and drift").
//
// The runtime skips the forced collection when GOGC is off. A Pacer turns
// it off and keeps the same heap target through the memory limit instead:
// after every collection it sets the limit to the live heap plus the
// percent, plus what the runtime holds beside the heap's objects (stacks,
// metadata, span fragmentation). A collection then runs when the heap has
// grown by the percent, as with GOGC, and never only because time passed.
//
// Data flow: the runtime runs a collection → the Pacer's cleanup runs on
// the runtime's cleanup goroutine → it reads runtime/metrics and calls
// debug.SetMemoryLimit → the next collection triggers at that limit.
package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// MinHeadroom is the least the heap may grow between two collections, as
// the runtime's own 4 MB minimum heap does for small heaps.
const MinHeadroom = 4 << 20

// The runtime/metrics samples a retune reads.
const (
	metricLive     = "/gc/heap/live:bytes"
	metricTotal    = "/memory/classes/total:bytes"
	metricObjects  = "/memory/classes/heap/objects:bytes"
	metricUnused   = "/memory/classes/heap/unused:bytes"
	metricFree     = "/memory/classes/heap/free:bytes"
	metricReleased = "/memory/classes/heap/released:bytes"
)

// Usage is the runtime's memory right after a collection, in bytes.
type Usage struct {
	// Live is the heap the last collection marked live.
	Live uint64
	// Unused is the space in the heap's spans no object occupies.
	Unused uint64
	// Beside is what the runtime holds that is not heap: stacks,
	// metadata, profiling buckets, other runtime structures.
	Beside uint64
}

// Limit is the memory limit that lets the heap grow by percent of the
// live heap (at least MinHeadroom) before the next collection.
func Limit(u Usage, percent int) int64 {
	headroom := max(u.Live/100*uint64(percent), MinHeadroom)
	var limit uint64
	for _, v := range []uint64{u.Live, headroom, u.Unused, u.Beside} {
		if v > math.MaxInt64-limit {
			return math.MaxInt64
		}
		limit += v
	}
	return int64(limit)
}

// Pacer holds the runtime's GC settings while it runs.
type Pacer struct {
	percent int
	stopped atomic.Bool
	limit   atomic.Int64
	mu      sync.Mutex
	samples []metrics.Sample
}

// Start turns GOGC off and paces collections through the memory limit at
// percent (see the package comment). Stop restores percent as the GC
// percent and removes the limit.
func Start(percent int) *Pacer {
	p := &Pacer{percent: percent, samples: []metrics.Sample{
		{Name: metricLive}, {Name: metricTotal}, {Name: metricObjects},
		{Name: metricUnused}, {Name: metricFree}, {Name: metricReleased},
	}}
	p.retune()
	debug.SetGCPercent(-1)
	p.arm()
	return p
}

// Stop ends the pacing: GOGC is percent again and there is no limit.
func (p *Pacer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(p.percent)
	debug.SetMemoryLimit(math.MaxInt64)
}

// CurrentLimit is the memory limit the last retune set.
func (p *Pacer) CurrentLimit() int64 { return p.limit.Load() }

// sentinel is an object nothing refers to: its cleanup runs after the
// collection that finds it unreachable. It is larger than the runtime's
// tiny allocations, which share a block with others and may outlive them.
type sentinel struct{ _ [4]uint64 }

// arm attaches the next retune to the next collection.
func (p *Pacer) arm() {
	runtime.AddCleanup(new(sentinel), func(p *Pacer) {
		if p.stopped.Load() {
			return
		}
		p.retune()
		p.arm()
	}, p)
}

// retune sets the memory limit from the runtime's current usage.
func (p *Pacer) retune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		return
	}
	metrics.Read(p.samples)
	v := func(i int) uint64 {
		if p.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return p.samples[i].Value.Uint64()
	}
	live, total, objects, unused, free, released := v(0), v(1), v(2), v(3), v(4), v(5)
	heap := objects + unused + free + released
	u := Usage{Live: live, Unused: unused}
	if total > heap {
		u.Beside = total - heap
	}
	limit := Limit(u, p.percent)
	p.limit.Store(limit)
	debug.SetMemoryLimit(limit)
}
