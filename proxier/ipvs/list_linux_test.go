package ipvs

import (
	"errors"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// scriptedDumper returns one scripted service dump per attempt (the last
// one repeats) and the same reals, possibly with repeats, for every service.
func scriptedDumper(dumps [][]model.VirtualServer, reals []model.RealServer, calls *int) dumper {
	return dumper{
		services: func() ([]model.VirtualServer, error) {
			i := min(*calls, len(dumps)-1)
			*calls++
			return dumps[i], nil
		},
		reals: func(model.VSKey) ([]model.RealServer, []model.RealServerStats, error) {
			return append([]model.RealServer(nil), reals...), make([]model.RealServerStats, len(reals)), nil
		},
	}
}

func TestListRetriesAndDeduplicates(t *testing.T) {
	a, b := makeVS("198.18.0.1", 80), makeVS("198.18.0.2", 80)
	r1, r2 := makeRS("198.18.1.1", 8080), makeRS("198.18.1.2", 8080)
	want := []*model.Service{makeService(a, r1, r2), makeService(b, r1, r2)}
	cases := []struct {
		name      string
		dumps     [][]model.VirtualServer
		reals     []model.RealServer
		wantCalls int
	}{
		{"consistent first dump", [][]model.VirtualServer{{b, a}}, []model.RealServer{r2, r1}, 1},
		{"repeat then consistent", [][]model.VirtualServer{{a, b, b}, {a, b}}, []model.RealServer{r1, r2}, 2},
		{"repeats on every attempt are removed", [][]model.VirtualServer{{a, a, b}}, []model.RealServer{r1, r2}, maxDumpAttempts},
		{"repeated real server on every attempt is removed", [][]model.VirtualServer{{a, b}}, []model.RealServer{r1, r2, r1}, maxDumpAttempts},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			k := &Kernel{}
			got, err := k.list(scriptedDumper(tc.dumps, tc.reals, &calls))
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
				t.Errorf("list (-want +got):\n%s", diff)
			}
			if calls != tc.wantCalls {
				t.Errorf("service dumps = %d, want %d", calls, tc.wantCalls)
			}
		})
	}
}

func TestListGivesUpOnKernelInterrupts(t *testing.T) {
	calls := 0
	d := dumper{services: func() ([]model.VirtualServer, error) { calls++; return nil, syscall.EINTR }}
	_, err := (&Kernel{}).list(d)
	if !errors.Is(err, ErrDumpInterrupted) {
		t.Errorf("list error = %v, want one wrapping ErrDumpInterrupted", err)
	}
	if calls != maxDumpAttempts {
		t.Errorf("service dumps = %d, want %d", calls, maxDumpAttempts)
	}
}
