package addr

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestNodePortAddresses(t *testing.T) {
	// The node: two IPv4 and two IPv6 global addresses, plus what is never
	// selected (loopback, link-local).
	host := addrs("198.18.0.2", "198.18.1.2", "127.0.0.1", "169.254.1.1",
		"fd00:18::2", "fd00:19::2", "::1", "fe80::1", "198.18.0.2")
	primary := addrs("198.18.0.2", "fd00:18::2")
	tests := []struct {
		name    string
		values  []string
		primary []netip.Addr
		want    []netip.Addr
		wantErr bool
	}{
		{name: "unset means all (kube-proxy IPVS default)",
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "all", values: []string{"all"},
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "zero CIDRs", values: []string{"0.0.0.0/0", "::/0"},
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "primary, dual-stack", values: []string{"primary"}, primary: primary,
			want: addrs("198.18.0.2", "fd00:18::2")},
		{name: "primary, IPv4 only: IPv6 unrestricted", values: []string{"primary"}, primary: addrs("198.18.0.2"),
			want: addrs("198.18.0.2", "fd00:18::2", "fd00:19::2")},
		{name: "primary without primary IPs", values: []string{"primary"}, wantErr: true},
		{name: "IPv4 CIDR only: IPv6 unrestricted", values: []string{"198.18.1.0/24"},
			want: addrs("198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "one CIDR per family", values: []string{"198.18.1.0/24", "fd00:19::/64"},
			want: addrs("198.18.1.2", "fd00:19::2")},
		{name: "CIDR not masked", values: []string{"198.18.1.7/24"},
			want: addrs("198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "CIDR and keyword", values: []string{"primary", "198.18.1.0/24"}, primary: primary,
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2")},
		{name: "CIDR matching nothing", values: []string{"203.0.113.0/24", "fd00:99::/64"}},
		{name: "localhost selects nothing in IPVS mode", values: []string{"localhost"}},
		{name: "loopback CIDR selects nothing", values: []string{"127.0.0.0/8", "::1/128"}},
		{name: "spaces trimmed", values: []string{" 198.18.0.0/24 ", "fd00:18::/64"},
			want: addrs("198.18.0.2", "fd00:18::2")},
		{name: "not a CIDR", values: []string{"198.18.0.2"}, wantErr: true},
		{name: "unknown keyword", values: []string{"Primary"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := ParseNodePortAddresses(tc.values, tc.primary)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseNodePortAddresses(%q) error = %v, wantErr %t", tc.values, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got := sel.Select(host)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Select() with %s mismatch (-want +got):\n%s", sel, diff)
			}
		})
	}
}

func TestNodePortAddressesString(t *testing.T) {
	sel, err := ParseNodePortAddresses([]string{"198.18.1.0/24", "198.18.0.0/24", "198.18.1.0/24"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sel.String(), "ipv4=198.18.0.0/24,198.18.1.0/24 ipv6=*"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		in      netip.Addr
		want    netip.Addr
		wantErr bool
	}{
		{in: netip.MustParseAddr("10.96.0.1"), want: netip.MustParseAddr("10.96.0.1")},
		{in: netip.MustParseAddr("::ffff:10.96.0.1"), want: netip.MustParseAddr("10.96.0.1")},
		{in: netip.MustParseAddr("fd00:96::1"), want: netip.MustParseAddr("fd00:96::1")},
		{in: netip.Addr{}, wantErr: true},
		{in: netip.MustParseAddr("0.0.0.0"), wantErr: true},
		{in: netip.MustParseAddr("127.0.0.1"), wantErr: true},
		{in: netip.MustParseAddr("fe80::1"), wantErr: true},
		{in: netip.MustParseAddr("fd00::1%eth0"), wantErr: true},
		{in: netip.MustParseAddr("224.0.0.1"), wantErr: true},
	}
	for _, tc := range tests {
		got, err := canonical(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("canonical(%v) error = %v, wantErr %t", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("canonical(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
