//go:build vmtest

package ipvs_test

import (
	"errors"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestApplyBatchSemantics sends one batch mixing successes and each kind of
// failure, and checks every result is what the single call returns and
// that the operations around a failure are applied.
func TestApplyBatchSemantics(t *testing.T) {
	reset(t)
	v4 := makeVS("198.18.0.10", 80)
	v6 := makeVS("fd00::10", 53, withProto(model.UDP), withSched("mh", model.FlagSched1), withPersistence(30))
	sctp := makeVS("198.18.0.11", 9, withProto(model.SCTP), withSched("sh", model.FlagSched2))
	r1, r2 := makeRS("198.18.1.1", 8080, 1), makeRS("198.18.1.2", 8080, 1)
	r6 := makeRS("fd00::1:1", 5353, 1)
	ops := []struct {
		op   model.Op
		want error // nil: success
	}{
		{model.Op{Kind: model.OpAddVirtualServer, VS: v4}, nil},
		{model.Op{Kind: model.OpAddVirtualServer, VS: v4}, ipvs.ErrExists},
		{model.Op{Kind: model.OpAddRealServer, VS: v4, RS: r1}, nil},
		{model.Op{Kind: model.OpAddRealServer, VS: v4, RS: r2}, nil},
		{model.Op{Kind: model.OpAddRealServer, VS: v4, RS: r1}, ipvs.ErrExists},
		{model.Op{Kind: model.OpAddRealServer, VS: v6, RS: r6}, ipvs.ErrNotFound}, // v6 not added yet
		{model.Op{Kind: model.OpAddVirtualServer, VS: v6}, nil},
		{model.Op{Kind: model.OpAddRealServer, VS: v6, RS: r6}, nil},
		{model.Op{Kind: model.OpAddRealServer, VS: v6, RS: r1}, ipvs.ErrInvalid}, // family
		{model.Op{Kind: model.OpAddVirtualServer, VS: sctp}, nil},
		{model.Op{Kind: model.OpUpdateVirtualServer, VS: makeVS("198.18.0.99", 80)}, ipvs.ErrNotFound},
		{model.Op{Kind: model.OpUpdateVirtualServer, VS: makeVS("198.18.0.10", 80, withSched("wrr", 0))}, nil},
		{model.Op{Kind: model.OpAddVirtualServer, VS: makeVS("198.18.0.12", 80, withSched("nosuch", 0))}, ipvs.ErrSchedulerMissing},
		{model.Op{Kind: model.OpUpdateRealServer, VS: v4, RS: makeRS("198.18.1.1", 8080, 0)}, nil},
		{model.Op{Kind: model.OpUpdateRealServer, VS: v4, RS: makeRS("198.18.1.9", 8080, 0)}, ipvs.ErrNotFound},
		{model.Op{Kind: model.OpDeleteRealServer, VS: v4, RS: r2}, nil},
		{model.Op{Kind: model.OpDeleteRealServer, VS: v4, RS: r2}, nil},                       // missing: nil
		{model.Op{Kind: model.OpDeleteRealServer, VS: makeVS("198.18.0.99", 1), RS: r2}, nil}, // VS missing: nil
		{model.Op{Kind: model.OpDeleteVirtualServer, VS: sctp}, nil},
		{model.Op{Kind: model.OpDeleteVirtualServer, VS: sctp}, nil},
		{model.Op{Kind: model.OpBindAddress, Addr: v4.Addr}, ipvs.ErrInvalid},
	}
	batch := make([]model.Op, len(ops))
	for i, o := range ops {
		batch[i] = o.op
	}
	errs := kernel.ApplyBatch(batch)
	for i, o := range ops {
		if (o.want == nil && errs[i] != nil) || (o.want != nil && !errors.Is(errs[i], o.want)) {
			t.Errorf("op %d %s: err = %v, want %v", i, o.op, errs[i], o.want)
		}
	}
	checkTable(t,
		&model.Service{VirtualServer: makeVS("198.18.0.10", 80, withSched("wrr", 0)), Reals: []model.RealServer{makeRS("198.18.1.1", 8080, 0)}},
		&model.Service{VirtualServer: v6, Reals: []model.RealServer{r6}},
	)
}

// TestApplyBatchLarge sends several batches' worth of operations, with a
// failure in every batch including the last operation, and checks the table
// and each result.
func TestApplyBatchLarge(t *testing.T) {
	reset(t)
	const n = 1500
	var ops []model.Op
	var want []*model.Service
	for i := range n {
		vs := makeVS("198.18.32.0", 80)
		vs.Addr = nthAddr("198.18.32.0", i)
		rs := model.RealServer{RSKey: model.RSKey{Addr: nthAddr("198.18.64.0", i), Port: 8080}, Weight: 1}
		ops = append(ops, model.Op{Kind: model.OpAddVirtualServer, VS: vs}, model.Op{Kind: model.OpAddRealServer, VS: vs, RS: rs})
		if i%100 == 0 {
			ops = append(ops, model.Op{Kind: model.OpAddVirtualServer, VS: vs}) // exists
		}
		want = append(want, &model.Service{VirtualServer: vs, Reals: []model.RealServer{rs}})
	}
	ops = append(ops, ops[0]) // the last operation fails too
	errs := kernel.ApplyBatch(ops)
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if !errors.Is(err, ipvs.ErrExists) {
				t.Fatalf("op %d %s: %v", i, ops[i], err)
			}
		}
	}
	if wantFailed := n/100 + 1; failed != wantFailed {
		t.Errorf("%d operations failed, want %d", failed, wantFailed)
	}
	checkTable(t, want...)

	// Delete everything in one call.
	var del []model.Op
	for _, s := range want {
		del = append(del, model.Op{Kind: model.OpDeleteRealServer, VS: s.VirtualServer, RS: s.Reals[0]},
			model.Op{Kind: model.OpDeleteVirtualServer, VS: s.VirtualServer})
	}
	if err := errors.Join(kernel.ApplyBatch(del)...); err != nil {
		t.Fatal(err)
	}
	checkTable(t)
}
