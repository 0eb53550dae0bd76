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
