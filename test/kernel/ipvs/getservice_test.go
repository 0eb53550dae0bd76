//go:build vmtest

package ipvs_test

import (
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestGetServiceTellsMissingFromEmpty: GetService returns a virtual server
// exactly as added, with its real servers sorted; an empty one with none;
// and nil for one the kernel does not have, which a real-server dump
// cannot tell from an empty one (it gives an empty list for both). Both
// families, with scheduler flags and persistence.
func TestGetServiceTellsMissingFromEmpty(t *testing.T) {
	reset(t)
	full := makeVS("198.18.0.10", 80, withSched("sh", model.FlagSched1|model.FlagSched2), withPersistence(30))
	empty := makeVS("fd00::10", 53, withProto(model.UDP))
	missing := makeVS("198.18.0.11", 80)
	for _, vs := range []model.VirtualServer{full, empty} {
		if err := kernel.AddVirtualServer(vs); err != nil {
			t.Fatalf("AddVirtualServer(%s): %v", vs.VSKey, err)
		}
	}
	reals := []model.RealServer{makeRS("198.18.1.2", 8080, 1), makeRS("198.18.1.1", 8080, 0)}
	for _, rs := range reals {
		if err := kernel.AddRealServer(full.VSKey, rs); err != nil {
			t.Fatalf("AddRealServer(%s): %v", rs.RSKey, err)
		}
	}
	want := &model.Service{VirtualServer: full, Reals: reals}
	want.SortReals()
	got, err := kernel.GetService(full.VSKey)
	if err != nil || got == nil {
		t.Fatalf("GetService(%s) = %v, %v", full.VSKey, got, err)
	}
	if g, w := lines(got), lines(want); !slices.Equal(g, w) {
		t.Errorf("GetService(%s):\n%s\nwant\n%s", full.VSKey, g, w)
	}
	if got, err := kernel.GetService(empty.VSKey); err != nil || got == nil || got.VirtualServer != empty || len(got.Reals) != 0 {
		t.Errorf("GetService(%s) = %v, %v; want the virtual server, no real servers", empty.VSKey, got, err)
	}
	if got, err := kernel.GetService(missing.VSKey); err != nil || got != nil {
		t.Errorf("GetService(%s) = %v, %v; want nil, nil", missing.VSKey, got, err)
	}
	if reals, err := kernel.ListRealServers(missing.VSKey); err != nil || len(reals) != 0 {
		t.Errorf("ListRealServers(%s) = %v, %v; want none and no error (the kernel's dump)", missing.VSKey, reals, err)
	}
}

// lines is one virtual server as `ipvsadm -Sn` lines.
func lines(s *model.Service) []string {
	st := model.NewState()
	st.Services[s.VSKey] = s
	return st.IPVSLines()
}
