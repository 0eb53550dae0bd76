package bench

import (
	"strings"
	"testing"
)

// result builds a Result with the given drift repairs.
func result(repairs ...Repair) *Result {
	r := &Result{Daemon: Ours, Services: 10, Endpoints: EndpointsPerService}
	if repairs != nil {
		r.Drift = &Drift{Cap: 180, PollInterval: 0.1, Repairs: repairs}
	}
	return r
}

func repair(kind string, seconds float64) Repair {
	return Repair{Kind: kind, Object: "x", Seconds: seconds}
}

func TestSummaryDrift(t *testing.T) {
	tests := []struct {
		name    string
		res     *Result
		want    string // the summary's end
		wantOut string // must not appear
	}{
		{name: "no drift phase", res: result(), wantOut: "drift"},
		{name: "repaired", res: result(repair("address", 0.04), repair("nft-element", 27.31)),
			want: " | drift repaired address 0.0s nft-element 27.3s"},
		{name: "not repaired within the cap", res: result(repair("ipvs-flush", 12.5), repair("real-server", NotTimed)),
			want: " | drift repaired ipvs-flush 12.5s real-server >180s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.res.Summary()
			if tc.want != "" && !strings.HasSuffix(got, tc.want) {
				t.Errorf("Summary() = %q, want it to end with %q", got, tc.want)
			}
			if tc.wantOut != "" && strings.Contains(got, tc.wantOut) {
				t.Errorf("Summary() = %q, want no %q", got, tc.wantOut)
			}
		})
	}
}

func TestBurstDuring(t *testing.T) {
	b := &Burst{Start: 100, Kernel: 10, Changes: []Change{
		{At: 99, Latency: 0.9},         // before the burst
		{At: 101, Latency: 0.2},        // during
		{At: 109.5, Latency: NotTimed}, // during, never seen
		{At: 110, Latency: 0.05},       // after the kernel held every new service
		{At: 105, Latency: 0.4},        // during
	}}
	lat, missed := b.During()
	if len(lat) != 2 || lat[0] != 0.2 || lat[1] != 0.4 || missed != 1 {
		t.Errorf("During() = %v, %d missed; want [0.2 0.4], 1 missed", lat, missed)
	}
	b.Kernel = NotTimed // never complete: every change from the start on is during it
	if lat, missed = b.During(); len(lat) != 3 || missed != 1 {
		t.Errorf("During() with no end = %v, %d missed; want 3 timed, 1 missed", lat, missed)
	}
}

func TestSummaryWatched(t *testing.T) {
	r := result()
	r.Changes = []Change{{Latency: 0.3, Watched: 0.25}, {Latency: 0.01, Watched: NotTimed}, {Latency: 0.02, Watched: 0.005}}
	if got, want := r.Summary(), "(own watch of the slices p50 5ms p99 250ms max 250ms)"; !strings.Contains(got, want) {
		t.Errorf("Summary() = %q, want it to contain %q", got, want)
	}
	r.Changes = []Change{{Latency: 0.3}} // a result from before the field
	if got := r.Summary(); strings.Contains(got, "own watch") {
		t.Errorf("Summary() = %q, want no watch figures", got)
	}
}
