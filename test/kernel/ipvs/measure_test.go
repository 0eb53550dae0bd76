//go:build vmtest

package ipvs_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestMeasureOpsPerSecond prints how many IPVS writes per second go through
// moby/ipvs, one request per netlink round trip. It prints figures and
// asserts only that the writes succeed: timing depends on the machine.
func TestMeasureOpsPerSecond(t *testing.T) {
	reset(t)
	const n = 2000
	vss := make([]model.VirtualServer, n)
	for i := range vss {
		vss[i] = makeVS("198.18.32.0", 80)
		vss[i].Addr = nthAddr("198.18.32.0", i)
	}
	reals := make([]model.RealServer, n)
	a := netip.MustParseAddr("198.18.64.0")
	for i := range reals {
		reals[i] = model.RealServer{RSKey: model.RSKey{Addr: a, Port: 8080}, Weight: 1}
		a = a.Next()
	}
	// One real server per virtual server: the kernel finds a destination by
	// walking its service's list, so piling them on one service would
	// measure that walk rather than the round trip.
	steps := []struct {
		name string
		op   func(i int) error
	}{
		{"add virtual server", func(i int) error { return kernel.AddVirtualServer(vss[i]) }},
		{"add real server", func(i int) error { return kernel.AddRealServer(vss[i].VSKey, reals[i]) }},
		{"update real server", func(i int) error {
			r := reals[i]
			r.Weight = 0
			return kernel.UpdateRealServer(vss[i].VSKey, r)
		}},
		{"delete real server", func(i int) error { return kernel.DeleteRealServer(vss[i].VSKey, reals[i].RSKey) }},
		{"delete virtual server", func(i int) error { return kernel.DeleteVirtualServer(vss[i].VSKey) }},
	}
	for _, s := range steps {
		start := time.Now()
		for i := range n {
			if err := s.op(i); err != nil {
				t.Fatalf("%s #%d: %v", s.name, i, err)
			}
		}
		d := time.Since(start)
		t.Logf("One request per round trip: %-22s %6d ops in %8s = %8.0f ops/s", s.name, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}

// TestMeasureBatchedOpsPerSecond prints the same figures as
// TestMeasureOpsPerSecond for ApplyBatch, which sends up to 256 requests
// per netlink write and reads back only failures and the last answer.
func TestMeasureBatchedOpsPerSecond(t *testing.T) {
	reset(t)
	const n = 2000
	batches := map[model.OpKind][]model.Op{}
	a := netip.MustParseAddr("198.18.64.0")
	for i := range n {
		vs := makeVS("198.18.32.0", 80)
		vs.Addr = nthAddr("198.18.32.0", i)
		rs := model.RealServer{RSKey: model.RSKey{Addr: a, Port: 8080}, Weight: 1}
		a = a.Next()
		batches[model.OpAddVirtualServer] = append(batches[model.OpAddVirtualServer], model.Op{Kind: model.OpAddVirtualServer, VS: vs})
		batches[model.OpAddRealServer] = append(batches[model.OpAddRealServer], model.Op{Kind: model.OpAddRealServer, VS: vs, RS: rs})
		rs.Weight = 0
		batches[model.OpUpdateRealServer] = append(batches[model.OpUpdateRealServer], model.Op{Kind: model.OpUpdateRealServer, VS: vs, RS: rs})
		batches[model.OpDeleteRealServer] = append(batches[model.OpDeleteRealServer], model.Op{Kind: model.OpDeleteRealServer, VS: vs, RS: rs})
		batches[model.OpDeleteVirtualServer] = append(batches[model.OpDeleteVirtualServer], model.Op{Kind: model.OpDeleteVirtualServer, VS: vs})
	}
	kinds := []model.OpKind{model.OpAddVirtualServer, model.OpAddRealServer, model.OpUpdateRealServer,
		model.OpDeleteRealServer, model.OpDeleteVirtualServer}
	// ApplyBatch with one operation per call: one request and one
	// acknowledgement per round trip on a bare socket, to tell the cost of
	// the round trip from the overhead of moby/ipvs.
	for _, kind := range kinds {
		start := time.Now()
		for i, op := range batches[kind] {
			if err := kernel.ApplyBatch([]model.Op{op})[0]; err != nil {
				t.Fatalf("%s #%d: %v", kind, i, err)
			}
		}
		d := time.Since(start)
		t.Logf("Raw netlink, 1 per write:   %-22s %6d ops in %8s = %8.0f ops/s", kind, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
	for _, kind := range kinds {
		start := time.Now()
		for i, err := range kernel.ApplyBatch(batches[kind]) {
			if err != nil {
				t.Fatalf("%s #%d: %v", kind, i, err)
			}
		}
		d := time.Since(start)
		t.Logf("Batched (256 per write):    %-22s %6d ops in %8s = %8.0f ops/s", kind, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}
