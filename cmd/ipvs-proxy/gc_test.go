package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestGCDefaultAndOverrides: without GOGC and GOMEMLIMIT the daemon's
// collector is paced (GC percent off, a memory limit); GOMEMLIMIT alone
// gets the default percent; GOGC is left to the runtime.
func TestGCDefaultAndOverrides(t *testing.T) {
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) })
	reset := func() { debug.SetGCPercent(100); debug.SetMemoryLimit(math.MaxInt64) }

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	p := setGC()
	if p == nil {
		t.Fatal("no pacer without GOGC and GOMEMLIMIT")
	}
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GC percent while paced = %d, want off (-1)", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit == math.MaxInt64 || limit != p.CurrentLimit() {
		t.Errorf("memory limit while paced = %d, want the pacer's %d", limit, p.CurrentLimit())
	}
	p.Stop()
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent after the pacer stopped = %d, want %d", got, defaultGCPercent)
	}

	for _, tc := range []struct {
		name, gogc, memlimit string
		want                 int
	}{
		{"GOMEMLIMIT alone: the default percent", "", "1GiB", defaultGCPercent},
		{"GOGC: left alone", "100", "", 100},
	} {
		reset()
		t.Setenv("GOGC", tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		if p := setGC(); p != nil {
			p.Stop()
			t.Errorf("%s: paced", tc.name)
		}
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("%s: GC percent %d, want %d", tc.name, got, tc.want)
		}
	}
}
