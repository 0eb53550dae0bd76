package addr

import (
	"net/netip"
	"slices"
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

// TestNodePortAddresses: each rule of --nodeport-addresses as kube-proxy
// v1.37's IPVS mode applies it. Keywords: cmd/kube-proxy/app/server.go,
// expandNodePortAddressKeywords; per-family filtering:
// pkg/proxy/util/nodeport_addresses.go, NewNodePortAddresses; loopback
// excluded: pkg/proxy/ipvs/proxier.go, syncProxyRules ("if
// !ip.IsLoopback()") and netlink_linux.go, isValidForSet.
func TestNodePortAddresses(t *testing.T) {
	// The node: two IPv4 and two IPv6 global addresses, plus what is never
	// selected (loopback, link-local).
	host := addrs("198.18.0.2", "198.18.1.2", "127.0.0.1", "169.254.1.1",
		"fd00:18::2", "fd00:19::2", "::1", "fe80::1", "198.18.0.2")
	primary := addrs("198.18.0.2", "fd00:18::2")
	all := addrs("198.18.0.2", "198.18.1.2", "fd00:18::2", "fd00:19::2")
	tests := []struct {
		name    string
		values  []string
		primary []netip.Addr
		want    []netip.Addr
		wantErr bool
	}{
		{name: "unset means all (kube-proxy IPVS default)", want: all},
		{name: "all: 0.0.0.0/0 and ::/0", values: []string{"all"}, want: all},
		{name: "zero CIDRs", values: []string{"0.0.0.0/0", "::/0"}, want: all},
		{name: "all wins over a CIDR (a zero CIDR matches everything)", values: []string{"198.18.1.0/24", "all"}, want: all},
		{name: "primary, dual-stack: one /32 and one /128", values: []string{"primary"}, primary: primary,
			want: addrs("198.18.0.2", "fd00:18::2")},
		{name: "primary, IPv4 node IP only: IPv6 unrestricted", values: []string{"primary"}, primary: addrs("198.18.0.2"),
			want: addrs("198.18.0.2", "fd00:18::2", "fd00:19::2")},
		{name: "primary, IPv6 node IP only: IPv4 unrestricted", values: []string{"primary"}, primary: addrs("fd00:19::2"),
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:19::2")},
		{name: "primary without node IPs restricts nothing (kube-proxy's loopback placeholders are skipped)",
			values: []string{"primary"}, want: all},
		{name: "primary skips a loopback node IP", values: []string{"primary"}, primary: addrs("127.0.0.1", "fd00:18::2"),
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2")},
		{name: "IPv4 CIDR only: IPv6 unrestricted", values: []string{"198.18.1.0/24"},
			want: addrs("198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "IPv6 CIDR only: IPv4 unrestricted", values: []string{"fd00:19::/64"},
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:19::2")},
		{name: "one CIDR per family", values: []string{"198.18.1.0/24", "fd00:19::/64"},
			want: addrs("198.18.1.2", "fd00:19::2")},
		{name: "CIDR not masked", values: []string{"198.18.1.7/24"},
			want: addrs("198.18.1.2", "fd00:18::2", "fd00:19::2")},
		{name: "CIDR and keyword", values: []string{"primary", "198.18.1.0/24"}, primary: primary,
			want: addrs("198.18.0.2", "198.18.1.2", "fd00:18::2")},
		{name: "CIDR matching nothing", values: []string{"203.0.113.0/24", "fd00:99::/64"}},
		{name: "localhost selects nothing in IPVS mode, in both families", values: []string{"localhost"}},
		{name: "localhost with an IPv4 CIDR: IPv6 stays restricted to loopback", values: []string{"localhost", "198.18.1.0/24"},
			want: addrs("198.18.1.2")},
		{name: "loopback CIDR selects nothing", values: []string{"127.0.0.0/8", "::1/128"}},
		{name: "spaces trimmed", values: []string{" 198.18.0.0/24 ", "fd00:18::/64"},
			want: addrs("198.18.0.2", "fd00:18::2")},
		{name: "a CIDR twice is allowed", values: []string{"198.18.0.0/24", "198.18.0.0/24"},
			want: addrs("198.18.0.2", "fd00:18::2", "fd00:19::2")},
		{name: "a keyword twice is refused (kube-proxy: field.Duplicate)", values: []string{"all", "all"}, wantErr: true},
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

// TestNodePortIPs: the function the daemon and plan share never returns
// nil, since nil means "every node IP" to proxier.Node.
func TestNodePortIPs(t *testing.T) {
	got, err := NodePortIPs([]string{"203.0.113.0/24", "fd00:99::/64"}, nil, addrs("198.18.0.2", "fd00:18::2"))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("NodePortIPs matching nothing = %#v, %v; want an empty, non-nil slice", got, err)
	}
	got, err = NodePortIPs([]string{"primary"}, addrs("198.18.0.2"), addrs("fd00:18::2", "198.18.1.2", "198.18.0.2"))
	if want := addrs("198.18.0.2", "fd00:18::2"); err != nil || !slices.Equal(got, want) {
		t.Errorf("NodePortIPs(primary) = %v, %v; want %v", got, err, want)
	}
	if _, err := NodePortIPs([]string{"secondary"}, nil, nil); err == nil {
		t.Error("NodePortIPs(secondary): no error")
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
