package sysctl

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// kernelState is a node where IPVS and br_netfilter are loaded with the
// kernel's defaults.
func kernelState(mutate ...func(map[string]string)) map[string]string {
	m := map[string]string{
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.expire_nodest_conn":        "0",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net.ipv4.vs.conn_reuse_mode":           "1",
		"net.ipv4.ip_forward":                   "0",
		"net.ipv6.conf.all.forwarding":          "0",
		"net.bridge.bridge-nf-call-iptables":    "0",
		"net.ipv4.conf.all.arp_ignore":          "0",
		"net.ipv4.conf.all.arp_announce":        "0",
	}
	for _, f := range mutate {
		f(m)
	}
	return m
}

func TestEnsure(t *testing.T) {
	boom := errors.New("permission denied")
	tests := []struct {
		name       string
		values     map[string]string
		settings   []Setting
		inject     func(*Fake)
		wantDrift  []string
		wantErr    []string // substrings of the error
		wantWrites int
		wantDump   map[string]string // values checked after Ensure
	}{
		{
			name:     "fresh node: everything drifted and written",
			values:   kernelState(),
			settings: Required(Options{Kernel: KernelVersion{6, 1, 0}}),
			wantDrift: []string{"net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn",
				"net.ipv4.vs.expire_quiescent_template", "net.ipv4.ip_forward"},
			wantWrites: 4,
			wantDump:   map[string]string{"net.ipv4.vs.conntrack": "1", "net.ipv4.ip_forward": "1", "net.ipv4.vs.conn_reuse_mode": "1"},
		},
		{
			name: "already applied: reads only",
			values: kernelState(func(m map[string]string) {
				m["net.ipv4.vs.conntrack"] = "1"
				m["net.ipv4.vs.expire_nodest_conn"] = "1"
				m["net.ipv4.vs.expire_quiescent_template"] = "1"
				m["net.ipv4.ip_forward"] = "1\n"
			}),
			settings:   Required(Options{Kernel: KernelVersion{6, 1, 0}}),
			wantWrites: 0,
		},
		{
			name:       "optional missing is skipped",
			values:     map[string]string{},
			settings:   []Setting{{Name: "net.bridge.bridge-nf-call-iptables", Value: "1", Optional: true}},
			wantWrites: 0,
		},
		{
			name:   "required missing is an error naming it, others still applied",
			values: kernelState(func(m map[string]string) { delete(m, "net.ipv4.vs.conntrack") }),
			settings: []Setting{
				{Name: "net.ipv4.vs.conntrack", Value: "1"},
				{Name: "net.ipv4.ip_forward", Value: "1"},
			},
			wantDrift:  []string{"net.ipv4.ip_forward"},
			wantErr:    []string{"required sysctl net.ipv4.vs.conntrack does not exist"},
			wantWrites: 1,
			wantDump:   map[string]string{"net.ipv4.ip_forward": "1"},
		},
		{
			name:   "failed write is reported and still counted as drift",
			values: kernelState(),
			settings: []Setting{
				{Name: "net.ipv4.ip_forward", Value: "1"},
				{Name: "net.ipv4.vs.conntrack", Value: "1"},
			},
			inject:     func(f *Fake) { f.Fail(CallSet, fault.Rule{Subject: "net.ipv4.ip_forward", Err: boom}) },
			wantDrift:  []string{"net.ipv4.ip_forward", "net.ipv4.vs.conntrack"},
			wantErr:    []string{"permission denied"},
			wantWrites: 2,
			wantDump:   map[string]string{"net.ipv4.ip_forward": "0", "net.ipv4.vs.conntrack": "1"},
		},
		{
			name:       "multi-value parameters compare by fields",
			values:     map[string]string{"net.ipv4.tcp_rmem": "4096\t131072\t6291456"},
			settings:   []Setting{{Name: "net.ipv4.tcp_rmem", Value: "4096 131072 6291456"}},
			wantWrites: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake(tc.values)
			if tc.inject != nil {
				tc.inject(f)
			}
			drift, err := Ensure(f, tc.settings)
			var got []string
			for _, d := range drift {
				got = append(got, d.Name)
			}
			if diff := cmp.Diff(tc.wantDrift, got); diff != "" {
				t.Errorf("drift mismatch (-want +got):\n%s", diff)
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Errorf("Ensure() error = %v", err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Ensure() error = %v, want it to contain %q", err, w)
				}
			}
			if w := f.Writes(); w != tc.wantWrites {
				t.Errorf("writes = %d, want %d", w, tc.wantWrites)
			}
			if r := f.Reads(); r != len(tc.settings) {
				t.Errorf("reads = %d, want %d (one per setting)", r, len(tc.settings))
			}
			for name, want := range tc.wantDump {
				if !strings.Contains(f.Dump(), name+" = "+want+"\n") {
					t.Errorf("after Ensure, %s != %s; dump:\n%s", name, want, f.Dump())
				}
			}
		})
	}
}

func TestEnsureRepairsDrift(t *testing.T) {
	settings := Required(Options{Kernel: KernelVersion{6, 1, 0}, StrictARP: true})
	f := NewFake(kernelState())
	if _, err := Ensure(f, settings); err != nil {
		t.Fatal(err)
	}
	// Someone resets one parameter between two full reconciles.
	f.Seed("net.ipv4.conf.all.arp_ignore", "0")
	f.ResetCalls()
	drift, err := Ensure(f, settings)
	if err != nil {
		t.Fatal(err)
	}
	want := []Drift{{Name: "net.ipv4.conf.all.arp_ignore", Got: "0", Want: "1"}}
	if diff := cmp.Diff(want, drift); diff != "" {
		t.Errorf("drift mismatch (-want +got):\n%s", diff)
	}
	if w := f.Writes(); w != 1 {
		t.Errorf("writes = %d, want 1", w)
	}
	if got := drift[0].String(); got != `net.ipv4.conf.all.arp_ignore: "0" -> "1"` {
		t.Errorf("Drift.String() = %s", got)
	}
}
