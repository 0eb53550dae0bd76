package ipvs

import (
	"net"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestToService(t *testing.T) {
	tests := []struct {
		name string
		vs   model.VirtualServer
		want mobyipvs.Service
	}{
		{
			name: "IPv4 TCP rr",
			vs:   makeVS("198.18.0.10", 80),
			want: mobyipvs.Service{
				Address: net.IP{198, 18, 0, 10}, Protocol: syscall.IPPROTO_TCP, Port: 80,
				SchedName: "rr", Netmask: 0xffffffff, AddressFamily: syscall.AF_INET,
			},
		},
		{
			name: "IPv6 UDP persistent",
			vs:   makeVS("fd00::10", 53, withProto(model.UDP), withPersistence(10800)),
			want: mobyipvs.Service{
				Address: net.ParseIP("fd00::10"), Protocol: syscall.IPPROTO_UDP, Port: 53,
				SchedName: "rr", Flags: 0x1, Timeout: 10800, Netmask: 128, AddressFamily: syscall.AF_INET6,
			},
		},
		{
			name: "SCTP sh with fallback and port",
			vs:   makeVS("198.18.0.10", 9, withProto(model.SCTP), withSched("sh", model.FlagSched1|model.FlagSched2)),
			want: mobyipvs.Service{
				Address: net.IP{198, 18, 0, 10}, Protocol: syscall.IPPROTO_SCTP, Port: 9,
				SchedName: "sh", Flags: 0x18, Netmask: 0xffffffff, AddressFamily: syscall.AF_INET,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toService(tc.vs)
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("toService mismatch (-want +got):\n%s", diff)
			}
			back, err := fromService(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.vs, back, cmpAddrs); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromService(t *testing.T) {
	tests := []struct {
		name    string
		in      mobyipvs.Service
		want    model.VirtualServer
		wantErr bool
	}{
		{
			name: "kernel-internal hashed bit is masked",
			in: mobyipvs.Service{Address: net.IP{198, 18, 0, 10}, AddressFamily: syscall.AF_INET,
				Protocol: syscall.IPPROTO_TCP, Port: 80, SchedName: "mh", Flags: 0x2 | 0x8},
			want: makeVS("198.18.0.10", 80, withSched("mh", model.FlagSched1)),
		},
		{
			name:    "unknown family",
			in:      mobyipvs.Service{Address: net.IP{1, 2, 3, 4}, AddressFamily: 99},
			wantErr: true,
		},
		{
			name:    "short IPv6 address",
			in:      mobyipvs.Service{Address: net.IP{1, 2, 3, 4}, AddressFamily: syscall.AF_INET6},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fromService(&tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmpAddrs); diff != "" {
				t.Errorf("fromService mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDestinationConversion(t *testing.T) {
	tests := []struct {
		name string
		rs   model.RealServer
		want mobyipvs.Destination
	}{
		{
			name: "IPv4 weight 1",
			rs:   makeRS("198.18.1.1", 8080),
			want: mobyipvs.Destination{Address: net.IP{198, 18, 1, 1}, Port: 8080, Weight: 1,
				ConnectionFlags: mobyipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET},
		},
		{
			name: "IPv6 weight 0",
			rs:   makeRS("fd00::1:1", 53, 0),
			want: mobyipvs.Destination{Address: net.ParseIP("fd00::1:1"), Port: 53, Weight: 0,
				ConnectionFlags: mobyipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toDestination(tc.rs)
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("toDestination mismatch (-want +got):\n%s", diff)
			}
			got.ActiveConnections, got.InactiveConnections = 5, 6
			back, st, err := fromDestination(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.rs, back, cmpAddrs); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			if st != (model.RealServerStats{ActiveConns: 5, InactiveConns: 6}) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestKeyService(t *testing.T) {
	got := keyService(makeVS("fd00::10", 80, withProto(model.SCTP)).VSKey)
	want := mobyipvs.Service{Address: net.ParseIP("fd00::10"), Protocol: syscall.IPPROTO_SCTP, Port: 80,
		Netmask: 128, AddressFamily: syscall.AF_INET6}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("keyService mismatch (-want +got):\n%s", diff)
	}
}
