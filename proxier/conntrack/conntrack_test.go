package conntrack

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// flow builds an entry from client to service, answered by backend (the
// reply goes back to the client).
func flow(proto model.Protocol, client, service, backend string) Entry {
	c := netip.MustParseAddrPort(client)
	return Entry{
		Proto: proto,
		Orig:  Tuple{Src: c, Dst: netip.MustParseAddrPort(service)},
		Reply: Tuple{Src: netip.MustParseAddrPort(backend), Dst: c},
	}
}

func udp(client, service, backend string) Entry { return flow(model.UDP, client, service, backend) }

var (
	vip  = netip.MustParseAddr("10.96.0.10")
	vip6 = netip.MustParseAddr("fd00:96::10")
	ep1  = netip.MustParseAddrPort("10.244.1.5:53")
	ep2  = netip.MustParseAddrPort("10.244.2.7:53")
)

func TestFilterMatch(t *testing.T) {
	e := udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53")
	tests := []struct {
		name   string
		filter Filter
		want   bool
	}{
		{"service", ForService(model.UDP, vip, 53), true},
		{"service other port", ForService(model.UDP, vip, 54), false},
		{"service other protocol", ForService(model.TCP, vip, 53), false},
		{"service other address", ForService(model.UDP, netip.MustParseAddr("10.96.0.11"), 53), false},
		{"endpoint", ForEndpoint(model.UDP, vip, 53, ep1), true},
		{"other endpoint", ForEndpoint(model.UDP, vip, 53, ep2), false},
		{"endpoint other port", ForEndpoint(model.UDP, vip, 53, netip.MustParseAddrPort("10.244.1.5:5353")), false},
		{"reply source only", Filter{Proto: model.UDP, OrigDst: vip, ReplySrc: ep1.Addr()}, true},
		{"node port on any address", Filter{Proto: model.UDP, OrigDstPort: 53}, true},
		{"ipv6 service", ForService(model.UDP, vip6, 53), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.filter.Match(e); got != tc.want {
				t.Errorf("%s Match(%s) = %t, want %t", tc.filter, e, got, tc.want)
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name    string
		filter  Filter
		wantErr bool
	}{
		{"service", ForService(model.UDP, vip, 53), false},
		{"endpoint", ForEndpoint(model.UDP, vip, 53, ep1), false},
		{"port only", Filter{Proto: model.UDP, OrigDstPort: 30053}, false},
		{"reply source only", Filter{Proto: model.UDP, ReplySrc: ep1.Addr()}, false},
		{"no protocol", Filter{OrigDst: vip}, true},
		{"everything", Filter{Proto: model.UDP}, true},
		{"reply port only", Filter{Proto: model.UDP, ReplySrcPort: 53}, true},
		{"mixed families", ForEndpoint(model.UDP, vip6, 53, ep1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.filter.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate(%s) = %v, wantErr %t", tc.filter, err, tc.wantErr)
			}
		})
	}
}

func TestFilterFamilies(t *testing.T) {
	tests := []struct {
		filter Filter
		v4, v6 bool
	}{
		{ForService(model.UDP, vip, 53), true, false},
		{ForService(model.UDP, vip6, 53), false, true},
		{Filter{Proto: model.UDP, ReplySrc: vip6}, false, true},
		{Filter{Proto: model.UDP, OrigDstPort: 30053}, true, true},
	}
	for _, tc := range tests {
		if v4, v6 := tc.filter.families(); v4 != tc.v4 || v6 != tc.v6 {
			t.Errorf("%s families() = %t, %t; want %t, %t", tc.filter, v4, v6, tc.v4, tc.v6)
		}
	}
}

func TestStrings(t *testing.T) {
	if got, want := ForEndpoint(model.UDP, vip, 53, ep1).String(),
		"-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.5 --reply-port-src 53"; got != want {
		t.Errorf("Filter.String() = %q, want %q", got, want)
	}
	e := udp("[fd00::1]:40000", "[fd00:96::10]:53", "[fd00:244::5]:53")
	if got, want := e.String(), "udp [fd00::1]:40000->[fd00:96::10]:53 reply [fd00:244::5]:53->[fd00::1]:40000"; got != want {
		t.Errorf("Entry.String() = %q, want %q", got, want)
	}
}

func TestStaleFilters(t *testing.T) {
	dns := model.VSKey{Addr: vip, Port: 53, Proto: model.UDP}
	nodePort := model.VSKey{Addr: netip.MustParseAddr("198.18.0.2"), Port: 30053, Proto: model.UDP}
	tests := []struct {
		name    string
		entries []Entry
		serving map[model.VSKey][]netip.Addr
		want    []Filter
	}{
		{
			name:    "answered by a serving endpoint is kept",
			entries: []Entry{udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53")},
			serving: map[model.VSKey][]netip.Addr{dns: {ep1.Addr()}},
		},
		{
			name: "answered by a removed endpoint is stale",
			entries: []Entry{
				udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"),
				udp("198.18.0.1:40001", "10.96.0.10:53", "10.244.1.5:53"),
				udp("198.18.0.1:40002", "10.96.0.10:53", "10.244.2.7:53"),
			},
			serving: map[model.VSKey][]netip.Addr{dns: {ep2.Addr()}},
			want:    []Filter{{Proto: model.UDP, OrigDst: vip, OrigDstPort: 53, ReplySrc: ep1.Addr()}},
		},
		{
			name: "unanswered while the service had no endpoint is stale",
			// The reply comes from the service address itself: no DNAT happened.
			entries: []Entry{udp("198.18.0.1:40000", "10.96.0.10:53", "10.96.0.10:53")},
			serving: map[model.VSKey][]netip.Addr{dns: {ep1.Addr()}},
			want:    []Filter{{Proto: model.UDP, OrigDst: vip, OrigDstPort: 53, ReplySrc: vip}},
		},
		{
			name:    "service without endpoints: everything stale",
			entries: []Entry{udp("198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53")},
			serving: map[model.VSKey][]netip.Addr{dns: nil},
			want:    []Filter{{Proto: model.UDP, OrigDst: vip, OrigDstPort: 53, ReplySrc: ep1.Addr()}},
		},
		{
			name: "node port on a node address",
			entries: []Entry{
				udp("198.18.0.1:40000", "198.18.0.2:30053", "10.244.1.5:53"),
				udp("198.18.0.1:40001", "198.18.0.2:30053", "10.244.2.7:53"),
			},
			serving: map[model.VSKey][]netip.Addr{nodePort: {ep2.Addr()}},
			want:    []Filter{{Proto: model.UDP, OrigDst: nodePort.Addr, OrigDstPort: 30053, ReplySrc: ep1.Addr()}},
		},
		{
			name: "other ports, protocols and addresses are not ours",
			entries: []Entry{
				udp("198.18.0.1:40000", "10.96.0.10:5353", "10.244.1.5:5353"),
				flow(model.TCP, "198.18.0.1:40000", "10.96.0.10:53", "10.244.1.5:53"),
				udp("198.18.0.1:40000", "8.8.8.8:53", "8.8.8.8:53"),
			},
			serving: map[model.VSKey][]netip.Addr{dns: {ep2.Addr()}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := StaleFilters(tc.entries, tc.serving)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("StaleFilters() mismatch (-want +got):\n%s", diff)
			}
			// Applying the filters leaves exactly the non-stale entries.
			f := NewFake(tc.entries...)
			if _, err := f.Clear(got...); err != nil {
				t.Fatal(err)
			}
			left, _ := f.List(0)
			if again := StaleFilters(left, tc.serving); len(again) != 0 {
				t.Errorf("after Clear, still stale: %v", again)
			}
		})
	}
}
