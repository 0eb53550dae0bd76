package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name    string
		u       Usage
		percent int
		want    int64
	}{
		{"no live heap yet: the minimum headroom", Usage{}, 50, MinHeadroom},
		{"small heap: the minimum headroom", Usage{Live: 2 * mb, Beside: 3 * mb}, 50, 2*mb + MinHeadroom + 3*mb},
		{"the percent of the live heap", Usage{Live: 100 * mb}, 50, 150 * mb},
		{"plus fragmentation and what is not heap", Usage{Live: 100 * mb, Unused: 7 * mb, Beside: 11 * mb}, 50, 168 * mb},
		{"another percent", Usage{Live: 100 * mb}, 100, 200 * mb},
		{"no overflow", Usage{Live: math.MaxUint64 / 2, Beside: math.MaxUint64 / 2}, 50, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Limit(tc.u, tc.percent); got != tc.want {
				t.Errorf("Limit(%+v, %d) = %d, want %d", tc.u, tc.percent, got, tc.want)
			}
		})
	}
}

// TestPacerFollowsTheLiveHeap: while a Pacer runs, GOGC is off (the
// runtime's condition for skipping its two-minute forced collection) and
// every collection moves the memory limit to the live heap plus the
// percent: up when the heap grows, down when it shrinks. Stop restores the
// percent and removes the limit.
func TestPacerFollowsTheLiveHeap(t *testing.T) {
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) })

	p := Start(50)
	defer p.Stop()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GC percent while paced = %d, want off (-1)", got)
	}
	runtime.GC()
	base := awaitLimit(t, p, func(l int64) bool { return l > 0 }, "a limit after the first collection")

	const grow = 64 << 20
	held := make([][]byte, 0, grow>>20)
	for range grow >> 20 {
		held = append(held, make([]byte, 1<<20))
	}
	runtime.GC()
	// 64 MB more live heap: a limit above 1.5 × 64 MB, and 64 MB above the
	// first at least (which had the minimum headroom).
	grown := awaitLimit(t, p, func(l int64) bool { return l >= grow*3/2 && l >= base+grow }, "the limit to follow 64 MB of new live heap")
	if limit := debug.SetMemoryLimit(-1); limit != grown {
		t.Errorf("runtime memory limit %d, want the pacer's %d", limit, grown)
	}
	runtime.KeepAlive(held)
	held = nil

	runtime.GC()
	awaitLimit(t, p, func(l int64) bool { return l < grown-grow }, "the limit to come down once the 64 MB are garbage")

	p.Stop()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("GC percent after Stop = %d, want 50", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		t.Errorf("memory limit after Stop = %d, want none", limit)
	}
	runtime.GC() // the cleanup of a stopped pacer changes nothing
	time.Sleep(10 * time.Millisecond)
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		t.Errorf("memory limit after a collection past Stop = %d, want none", limit)
	}
}

// awaitLimit waits (up to 5 s: the retune runs on the runtime's cleanup
// goroutine, after the collection) for the pacer's limit to satisfy ok.
func awaitLimit(t *testing.T, p *Pacer, ok func(int64) bool, what string) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := p.CurrentLimit()
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s; the limit is %d", what, l)
		}
		time.Sleep(time.Millisecond)
	}
}
