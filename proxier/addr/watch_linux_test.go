//go:build linux

package addr

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// addrNote encodes an address notification (RTM_NEWADDR or RTM_DELADDR).
func addrNote(typ uint16, index int32, attrs ...[]byte) []byte {
	m := newAddr(0, index, 0, attrs...)
	nl.NativeEndian().PutUint16(m[4:], typ)
	return m
}

// linkNote encodes a link notification with the link's name.
func linkNote(typ uint16, index int32, name string) []byte {
	p := make([]byte, unix.SizeofIfInfomsg)
	nl.NativeEndian().PutUint32(p[4:], uint32(index))
	p = append(p, rtattr(unix.IFLA_IFNAME, append([]byte(name), 0))...)
	return nlMessage(typ, 0, 0, p)
}

// routeNote encodes a route notification of our local route to a, with
// index as its device and proto as its protocol.
func routeNote(typ uint16, index int32, a string, proto uint8) []byte {
	m := appendRoute(nil, typ, 0, netip.MustParseAddr(a))
	m[unix.NLMSG_HDRLEN+5] = proto
	nl.NativeEndian().PutUint32(attr(m[unix.NLMSG_HDRLEN+unix.SizeofRtMsg:], unix.RTA_OIF), uint32(index))
	return m
}

// TestWatcherParse: notifications become the events the daemon acts on,
// the dummy interface's index followed through deletion and recreation.
func TestWatcherParse(t *testing.T) {
	const dummy, eth0 = 7, 2
	tests := []struct {
		name      string
		notes     [][]byte
		want      []Event
		wantDummy int32
	}{
		{
			name: "address added to and removed from the dummy",
			notes: [][]byte{
				addrNote(unix.RTM_NEWADDR, dummy, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.10")), rtattr(unix.IFA_ADDRESS, ipBytes("10.96.0.10"))),
				addrNote(unix.RTM_DELADDR, dummy, rtattr(unix.IFA_ADDRESS, ipBytes("fd00:96::1"))),
			},
			want: []Event{
				{Kind: AddressAdded, Addr: netip.MustParseAddr("10.96.0.10"), Dummy: true},
				{Kind: AddressRemoved, Addr: netip.MustParseAddr("fd00:96::1"), Dummy: true},
			},
			wantDummy: dummy,
		},
		{
			name: "our local route added and deleted",
			notes: [][]byte{
				routeNote(unix.RTM_NEWROUTE, loopbackIndex, "10.96.0.10", RouteProtocol),
				routeNote(unix.RTM_DELROUTE, loopbackIndex, "10.96.0.11", RouteProtocol),
			},
			want: []Event{
				{Kind: AddressAdded, Addr: netip.MustParseAddr("10.96.0.10"), Dummy: true},
				{Kind: AddressRemoved, Addr: netip.MustParseAddr("10.96.0.11"), Dummy: true},
			},
			wantDummy: dummy,
		},
		{
			name: "the kernel's routes, and ours through another link, are dropped",
			notes: [][]byte{
				routeNote(unix.RTM_NEWROUTE, loopbackIndex, "10.96.0.10", unix.RTPROT_KERNEL),
				routeNote(unix.RTM_NEWROUTE, dummy, "10.96.0.10", unix.RTPROT_KERNEL),
				routeNote(unix.RTM_DELROUTE, eth0, "10.96.0.11", RouteProtocol),
			},
			wantDummy: dummy,
		},
		{
			name:      "link-local address on the dummy is the kernel's",
			notes:     [][]byte{addrNote(unix.RTM_NEWADDR, dummy, rtattr(unix.IFA_ADDRESS, ipBytes("fe80::1")))},
			wantDummy: dummy,
		},
		{
			name:      "address of another link is a host address",
			notes:     [][]byte{addrNote(unix.RTM_DELADDR, eth0, rtattr(unix.IFA_LOCAL, ipBytes("198.18.0.2")))},
			want:      []Event{{Kind: AddressRemoved, Addr: netip.MustParseAddr("198.18.0.2")}},
			wantDummy: dummy,
		},
		{
			name: "dummy deleted then recreated with another index",
			notes: [][]byte{
				linkNote(unix.RTM_DELLINK, dummy, "kube-ipvs0"),
				addrNote(unix.RTM_NEWADDR, dummy, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.10"))),
				linkNote(unix.RTM_NEWLINK, 9, "kube-ipvs0"),
				addrNote(unix.RTM_NEWADDR, 9, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.10"))),
			},
			want: []Event{
				{Kind: InterfaceChanged},
				{Kind: AddressAdded, Addr: netip.MustParseAddr("10.96.0.10")},
				{Kind: InterfaceChanged},
				{Kind: AddressAdded, Addr: netip.MustParseAddr("10.96.0.10"), Dummy: true},
			},
			wantDummy: 9,
		},
		{
			name:      "dummy renamed away",
			notes:     [][]byte{linkNote(unix.RTM_NEWLINK, dummy, "old-ipvs0")},
			want:      []Event{{Kind: InterfaceChanged}},
			wantDummy: 0,
		},
		{
			name: "other links and the dummy's own flag changes are dropped",
			notes: [][]byte{
				linkNote(unix.RTM_NEWLINK, eth0, "eth0"),
				linkNote(unix.RTM_DELLINK, eth0, "eth0"),
				linkNote(unix.RTM_NEWLINK, dummy, "kube-ipvs0"),
			},
			wantDummy: dummy,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &watcher{name: "kube-ipvs0", dummy: dummy}
			var buf []byte
			for _, n := range tc.notes {
				buf = append(buf, n...)
			}
			var got []Event
			if err := w.parse(buf, func(ev Event) { got = append(got, ev) }); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if w.dummy != tc.wantDummy {
				t.Errorf("dummy index = %d, want %d", w.dummy, tc.wantDummy)
			}
		})
	}
}

// TestWatcherParseMalformed: a truncated buffer is an error (the
// subscription is renewed and the loss reported), after the events before it.
func TestWatcherParseMalformed(t *testing.T) {
	w := &watcher{name: "kube-ipvs0", dummy: 7}
	good := addrNote(unix.RTM_DELADDR, 7, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.10")))
	bad := addrNote(unix.RTM_DELADDR, 7, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.11")))
	n := 0
	if err := w.parse(append(good, bad[:len(bad)-4]...), func(Event) { n++ }); err == nil {
		t.Error("parse of a truncated buffer returned no error")
	}
	if n != 1 {
		t.Errorf("events before the truncated message = %d, want 1", n)
	}
}

// TestWatcherParseAllocs: a notification costs no allocation.
func TestWatcherParseAllocs(t *testing.T) {
	w := &watcher{name: "kube-ipvs0", dummy: 7}
	buf := slices.Concat(addrNote(unix.RTM_NEWADDR, 7, rtattr(unix.IFA_LOCAL, ipBytes("10.96.0.10"))),
		linkNote(unix.RTM_NEWLINK, 2, "eth0"), routeNote(unix.RTM_NEWROUTE, loopbackIndex, "10.96.0.10", RouteProtocol))
	n := 0
	fn := func(Event) { n++ }
	allocs := testing.AllocsPerRun(100, func() { _ = w.parse(buf, fn) })
	if allocs != 0 {
		t.Errorf("allocations per buffer = %v, want 0", allocs)
	}
}
