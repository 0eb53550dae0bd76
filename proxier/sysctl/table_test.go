package sysctl

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// names returns "name=value" for each setting, optional ones marked "?".
func names(settings []Setting) []string {
	var out []string
	for _, s := range settings {
		n := s.Name + "=" + s.Value
		if s.Optional {
			n += "?"
		}
		out = append(out, n)
	}
	return out
}

func TestRequired(t *testing.T) {
	base := []string{
		"net.ipv4.vs.conntrack=1",
		"net.ipv4.vs.expire_nodest_conn=1",
		"net.ipv4.vs.expire_quiescent_template=1",
	}
	with := func(extra ...string) []string {
		out := append([]string{}, base...)
		return append(out, extra...)
	}
	modern := KernelVersion{6, 1, 0}
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{name: "ipv4 only, modern kernel", opts: Options{Kernel: modern},
			want: with("net.ipv4.ip_forward=1")},
		{name: "unknown kernel leaves conn_reuse_mode alone", opts: Options{},
			want: with("net.ipv4.ip_forward=1")},
		{name: "kernel 5.8 sets conn_reuse_mode", opts: Options{Kernel: KernelVersion{5, 8, 18}},
			want: with("net.ipv4.vs.conn_reuse_mode=0", "net.ipv4.ip_forward=1")},
		{name: "kernel 4.19 sets conn_reuse_mode", opts: Options{Kernel: KernelVersion{4, 19, 0}},
			want: with("net.ipv4.vs.conn_reuse_mode=0", "net.ipv4.ip_forward=1")},
		{name: "kernel 5.9 leaves conn_reuse_mode", opts: Options{Kernel: KernelVersion{5, 9, 0}},
			want: with("net.ipv4.ip_forward=1")},
		{name: "dual-stack", opts: Options{Kernel: modern, IPv6: true},
			want: with("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")},
		{name: "bridge present", opts: Options{Kernel: modern, Bridge: true},
			want: with("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1?")},
		{name: "bridge present, dual-stack", opts: Options{Kernel: modern, Bridge: true, IPv6: true},
			want: with("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
				"net.bridge.bridge-nf-call-iptables=1?", "net.bridge.bridge-nf-call-ip6tables=1?")},
		{name: "strict ARP", opts: Options{Kernel: modern, StrictARP: true},
			want: with("net.ipv4.ip_forward=1", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, names(Required(tc.opts))); diff != "" {
				t.Errorf("Required(%+v) mismatch (-want +got):\n%s", tc.opts, diff)
			}
		})
	}
}

func TestRequiredHasReasons(t *testing.T) {
	for _, s := range Required(Options{Kernel: KernelVersion{4, 0, 0}, IPv6: true, StrictARP: true, Bridge: true}) {
		if s.Reason == "" {
			t.Errorf("setting %s has no reason", s.Name)
		}
		if _, err := Path("", s.Name); err != nil {
			t.Errorf("setting %s: %v", s.Name, err)
		}
	}
}

func TestBridgePresent(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fake    func() *Fake
		want    bool
		wantErr error
	}{
		{name: "present", fake: func() *Fake {
			return NewFake(map[string]string{"net.bridge.bridge-nf-call-iptables": "0"})
		}, want: true},
		{name: "absent", fake: func() *Fake { return NewFake(nil) }},
		{name: "read error", fake: func() *Fake {
			f := NewFake(nil)
			f.Fail(CallGet, fault.Rule{Err: boom})
			return f
		}, wantErr: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BridgePresent(tc.fake())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("BridgePresent() error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("BridgePresent() = %t, want %t", got, tc.want)
			}
		})
	}
	if _, err := NewFake(nil).Get("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Fake.Get(missing) = %v, want fs.ErrNotExist", err)
	}
}
