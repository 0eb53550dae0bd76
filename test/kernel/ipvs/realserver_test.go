//go:build vmtest

package ipvs_test

import (
	"errors"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestRealServerLifecycle adds real servers (weight 1 and 0), changes
// weights, deletes them, and checks the idempotent error behaviour, for each
// protocol and family.
func TestRealServerLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		vs    model.VirtualServer
		reals []model.RealServer // added in this order; reals[0] is updated, reals[1] deleted
		other model.RSKey        // never added
	}{
		{
			name:  "IPv4 TCP",
			vs:    makeVS("198.18.0.10", 80),
			reals: []model.RealServer{makeRS("198.18.1.2", 8080, 1), makeRS("198.18.1.1", 8080, 0), makeRS("198.18.1.1", 8081, 1)},
			other: makeRS("198.18.1.9", 8080, 1).RSKey,
		},
		{
			name:  "IPv6 UDP",
			vs:    makeVS("fd00::10", 53, withProto(model.UDP)),
			reals: []model.RealServer{makeRS("fd00::1:1", 5353, 1), makeRS("fd00::1:2", 5353, 1), makeRS("fd00::1:3", 53, 0)},
			other: makeRS("fd00::1:9", 53, 1).RSKey,
		},
		{
			name:  "IPv4 SCTP sh",
			vs:    makeVS("198.18.0.11", 9, withProto(model.SCTP), withSched("sh", model.FlagSched1|model.FlagSched2)),
			reals: []model.RealServer{makeRS("198.18.1.1", 9, 1), makeRS("198.18.1.2", 9, 1)},
			other: makeRS("198.18.1.3", 9, 1).RSKey,
		},
		{
			name:  "IPv6 SCTP mh persistent",
			vs:    makeVS("fd00::11", 9, withProto(model.SCTP), withSched("mh", model.FlagSched2), withPersistence(30)),
			reals: []model.RealServer{makeRS("fd00::1:1", 9, 0), makeRS("fd00::1:2", 9, 1)},
			other: makeRS("fd00::1:3", 9, 1).RSKey,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reset(t)
			if err := kernel.AddVirtualServer(tc.vs); err != nil {
				t.Fatalf("AddVirtualServer: %v", err)
			}
			want := &model.Service{VirtualServer: tc.vs}
			for _, rs := range tc.reals {
				if err := kernel.AddRealServer(tc.vs.VSKey, rs); err != nil {
					t.Fatalf("AddRealServer(%s): %v", rs.RSKey, err)
				}
				want.Reals = append(want.Reals, rs)
			}
			want.SortReals()
			checkTable(t, want)

			upd := tc.reals[0]
			upd.Weight = 1 - upd.Weight
			if err := kernel.UpdateRealServer(tc.vs.VSKey, upd); err != nil {
				t.Fatalf("UpdateRealServer: %v", err)
			}
			if err := kernel.DeleteRealServer(tc.vs.VSKey, tc.reals[1].RSKey); err != nil {
				t.Fatalf("DeleteRealServer: %v", err)
			}
			want = &model.Service{VirtualServer: tc.vs, Reals: append([]model.RealServer{upd}, tc.reals[2:]...)}
			want.SortReals()
			checkTable(t, want)

			checkRealServerErrors(t, tc.vs.VSKey, tc.reals[0], tc.other)
			checkTable(t, want)
		})
	}
}

// checkRealServerErrors checks the idempotent error behaviour around an
// existing real server rs and a missing one.
func checkRealServerErrors(t *testing.T, vs model.VSKey, rs model.RealServer, missing model.RSKey) {
	t.Helper()
	noVS := vs
	noVS.Port++
	miss := model.RealServer{RSKey: missing, Weight: 1}
	for _, c := range []struct {
		what string
		err  error
		want error // nil: must succeed
	}{
		{"add existing", kernel.AddRealServer(vs, rs), ipvs.ErrExists},
		{"add to missing VS", kernel.AddRealServer(noVS, rs), ipvs.ErrNotFound},
		{"update missing", kernel.UpdateRealServer(vs, miss), ipvs.ErrNotFound},
		{"update in missing VS", kernel.UpdateRealServer(noVS, rs), ipvs.ErrNotFound},
		{"delete missing", kernel.DeleteRealServer(vs, missing), nil},
		{"delete in missing VS", kernel.DeleteRealServer(noVS, rs.RSKey), nil},
		{"negative weight", kernel.UpdateRealServer(vs, model.RealServer{RSKey: rs.RSKey, Weight: -1}), ipvs.ErrInvalid},
	} {
		if (c.want == nil && c.err != nil) || (c.want != nil && !errors.Is(c.err, c.want)) {
			t.Errorf("%s: err = %v, want %v", c.what, c.err, c.want)
		}
	}
	other := makeRS("fd00::1:1", rs.Port, 1)
	if vs.Addr.Is6() {
		other = makeRS("198.18.1.1", rs.Port, 1)
	}
	if err := kernel.AddRealServer(vs, other); !errors.Is(err, ipvs.ErrInvalid) {
		t.Errorf("add real server of the other family: err = %v, want ErrInvalid", err)
	}
}

// TestDeleteVirtualServerTakesReals checks that deleting a virtual server
// removes its real servers, and that re-adding it starts empty.
func TestDeleteVirtualServerTakesReals(t *testing.T) {
	reset(t)
	vs := makeVS("198.18.0.10", 80)
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []model.RealServer{makeRS("198.18.1.1", 80, 1), makeRS("198.18.1.2", 80, 1)} {
		if err := kernel.AddRealServer(vs.VSKey, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := kernel.DeleteVirtualServer(vs.VSKey); err != nil {
		t.Fatal(err)
	}
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	checkTable(t, &model.Service{VirtualServer: vs})
	st, err := kernel.RealServerStats(vs.VSKey)
	if err != nil || len(st) != 0 {
		t.Errorf("RealServerStats = %v, %v; want empty, nil", st, err)
	}
	st, err = kernel.RealServerStats(makeVS("198.18.0.99", 80).VSKey)
	if err != nil || len(st) != 0 {
		t.Errorf("RealServerStats of a missing VS = %v, %v; want empty, nil", st, err)
	}
}
