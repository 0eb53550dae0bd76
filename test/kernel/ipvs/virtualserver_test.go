//go:build vmtest

package ipvs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestProbe(t *testing.T) {
	if err := kernel.Probe(); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}

// TestVirtualServerLifecycle adds, lists, updates and deletes one virtual
// server of each protocol, family and scheduler configuration, and checks
// that every field read back is the one written.
func TestVirtualServerLifecycle(t *testing.T) {
	tests := []struct {
		name    string
		vs      model.VirtualServer
		updated model.VirtualServer
	}{
		{
			name:    "IPv4 TCP rr to wrr",
			vs:      makeVS("198.18.0.10", 80),
			updated: makeVS("198.18.0.10", 80, withSched("wrr", 0)),
		},
		{
			name:    "IPv6 UDP persistent, timeout changed then dropped",
			vs:      makeVS("fd00::10", 53, withProto(model.UDP), withPersistence(10800)),
			updated: makeVS("fd00::10", 53, withProto(model.UDP)),
		},
		{
			name:    "IPv4 SCTP sh with sh-fallback and sh-port",
			vs:      makeVS("198.18.0.11", 9, withProto(model.SCTP), withSched("sh", model.FlagSched1|model.FlagSched2)),
			updated: makeVS("198.18.0.11", 9, withProto(model.SCTP), withSched("sh", model.FlagSched2)),
		},
		{
			name:    "IPv6 TCP mh with mh-fallback and mh-port, becomes persistent",
			vs:      makeVS("fd00::11", 443, withSched("mh", model.FlagSched1|model.FlagSched2)),
			updated: makeVS("fd00::11", 443, withSched("mh", model.FlagSched1|model.FlagSched2), withPersistence(60)),
		},
		{
			name:    "IPv6 SCTP rr to sh flag-3",
			vs:      makeVS("fd00::12", 36412, withProto(model.SCTP)),
			updated: makeVS("fd00::12", 36412, withProto(model.SCTP), withSched("sh", model.FlagSched3)),
		},
		{
			name:    "IPv4 UDP persistent sh",
			vs:      makeVS("198.18.0.12", 53, withProto(model.UDP), withSched("sh", 0), withPersistence(3)),
			updated: makeVS("198.18.0.12", 53, withProto(model.UDP), withSched("lc", 0), withPersistence(86400)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reset(t)
			if err := kernel.AddVirtualServer(tc.vs); err != nil {
				t.Fatalf("AddVirtualServer: %v", err)
			}
			checkTable(t, &model.Service{VirtualServer: tc.vs})
			if err := kernel.AddVirtualServer(tc.vs); !errors.Is(err, ipvs.ErrExists) {
				t.Errorf("AddVirtualServer again = %v, want ErrExists", err)
			}
			if err := kernel.UpdateVirtualServer(tc.updated); err != nil {
				t.Fatalf("UpdateVirtualServer: %v", err)
			}
			checkTable(t, &model.Service{VirtualServer: tc.updated})
			if err := kernel.DeleteVirtualServer(tc.vs.VSKey); err != nil {
				t.Fatalf("DeleteVirtualServer: %v", err)
			}
			checkTable(t)
			if err := kernel.DeleteVirtualServer(tc.vs.VSKey); err != nil {
				t.Errorf("DeleteVirtualServer of a missing one = %v, want nil", err)
			}
			if err := kernel.UpdateVirtualServer(tc.updated); !errors.Is(err, ipvs.ErrNotFound) {
				t.Errorf("UpdateVirtualServer of a missing one = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestVirtualServerErrors checks what is refused before or by the kernel.
func TestVirtualServerErrors(t *testing.T) {
	reset(t)
	tests := []struct {
		name string
		vs   model.VirtualServer
		want error
	}{
		{name: "scheduler without module", vs: makeVS("198.18.0.10", 80, withSched("nosuch", 0)), want: ipvs.ErrSchedulerMissing},
		{name: "unknown flag bits", vs: makeVS("198.18.0.10", 80, withSched("sh", 0x4)), want: ipvs.ErrInvalid},
		{name: "persistent without timeout", vs: makeVS("198.18.0.10", 80, func(v *model.VirtualServer) {
			v.Flags = model.FlagPersistent
		}), want: ipvs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := kernel.AddVirtualServer(tc.vs); !errors.Is(err, tc.want) {
				t.Errorf("AddVirtualServer = %v, want %v", err, tc.want)
			}
			checkTable(t)
		})
	}
}

// TestSameAddressSeveralServices checks that protocol and port are part of
// the key: one address carries TCP, UDP and SCTP services side by side.
func TestSameAddressSeveralServices(t *testing.T) {
	reset(t)
	want := []*model.Service{}
	for _, vs := range []model.VirtualServer{
		makeVS("198.18.0.10", 53, withProto(model.UDP)),
		makeVS("198.18.0.10", 53),
		makeVS("198.18.0.10", 53, withProto(model.SCTP)),
		makeVS("198.18.0.10", 80),
		makeVS("fd00::10", 53, withProto(model.UDP)),
	} {
		if err := kernel.AddVirtualServer(vs); err != nil {
			t.Fatalf("AddVirtualServer(%s): %v", vs.VSKey, err)
		}
		want = append(want, &model.Service{VirtualServer: vs})
	}
	checkTable(t, want...)
}

// checkTable fails the test unless the kernel holds exactly want (given in
// any order). It compares ipvsadm-style dumps: readable, and much faster
// than a deep comparison of thousands of services under emulation.
func checkTable(t *testing.T, want ...*model.Service) {
	t.Helper()
	if diff := cmp.Diff(dump(want), dump(list(t))); diff != "" {
		t.Errorf("kernel table mismatch (-want +got):\n%s", diff)
	}
}

// dump formats services as `ipvsadm -Sn` would, sorted.
func dump(svcs []*model.Service) string {
	st := model.NewState()
	for _, s := range svcs {
		c := s.Clone()
		c.SortReals()
		st.Services[s.VSKey] = c
	}
	return strings.Join(st.IPVSLines(), "\n")
}
