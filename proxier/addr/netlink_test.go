//go:build linux

package addr

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHostAddr checks the netlink address Bind sends, without root.
func TestHostAddr(t *testing.T) {
	tests := []struct {
		addr  string
		ones  int
		bits  int
		flags int
	}{
		{addr: "10.96.0.1", ones: 32, bits: 32, flags: 0},
		{addr: "fd00:96::1", ones: 128, bits: 128, flags: unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		na := hostAddr(a)
		if ones, bits := na.Mask.Size(); ones != tc.ones || bits != tc.bits {
			t.Errorf("hostAddr(%s) mask = /%d of %d, want /%d of %d", a, ones, bits, tc.ones, tc.bits)
		}
		if got := fromNet(na.IP); got != a {
			t.Errorf("hostAddr(%s) IP = %s", a, got)
		}
		if na.Flags != tc.flags {
			t.Errorf("hostAddr(%s) flags = %#x, want %#x", a, na.Flags, tc.flags)
		}
		if na.Broadcast != nil || na.Peer != nil || na.Scope != 0 {
			t.Errorf("hostAddr(%s) = %+v: want no broadcast, no peer, universe scope", a, na)
		}
	}
}
