package model

import (
	"net/netip"
	"slices"
	"testing"
)

func vs(s string, port uint16, p Protocol) VSKey {
	return VSKey{Addr: netip.MustParseAddr(s), Port: port, Proto: p}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FormatVirtualServer("-A", VirtualServer{VSKey: vs("198.18.0.1", 80, TCP), Scheduler: "rr"}), "-A -t 198.18.0.1:80 -s rr"},
		{FormatVirtualServer("-A", VirtualServer{VSKey: vs("fd00::1", 53, UDP), Scheduler: "sh", Flags: FlagPersistent | FlagSched1 | FlagSched2, Timeout: 60}),
			"-A -u [fd00::1]:53 -s sh -p 60 -b sh-fallback,sh-port"},
		{FormatVirtualServer("-E", VirtualServer{VSKey: vs("198.18.0.1", 3868, SCTP), Scheduler: "mh", Flags: FlagSched1}), "-E --sctp-service 198.18.0.1:3868 -s mh -b mh-fallback"},
		{FormatRealServer("-a", vs("198.18.0.1", 80, TCP), RealServer{RSKey: RSKey{Addr: netip.MustParseAddr("198.18.10.1"), Port: 8080}, Weight: 0}),
			"-a -t 198.18.0.1:80 -r 198.18.10.1:8080 -m -w 0"},
		{Op{Kind: OpDeleteRealServer, VS: VirtualServer{VSKey: vs("198.18.0.1", 80, TCP)}, RS: RealServer{RSKey: RSKey{Addr: netip.MustParseAddr("198.18.10.1"), Port: 8080}}}.String(),
			"-d -t 198.18.0.1:80 -r 198.18.10.1:8080"},
		{Op{Kind: OpBindAddress, Addr: netip.MustParseAddr("fd00::10")}.String(), "addr add fd00::10/128"},
		{Op{Kind: OpUnbindAddress, Addr: netip.MustParseAddr("198.18.0.10")}.String(), "addr del 198.18.0.10/32"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRouteAndDraining(t *testing.T) {
	st := NewState()
	k := vs("198.18.0.1", 80, TCP)
	st.Services[k] = &Service{VirtualServer: VirtualServer{VSKey: k, Scheduler: "rr"}, Reals: []RealServer{
		{RSKey: RSKey{Addr: netip.MustParseAddr("198.18.10.1"), Port: 80}, Weight: 1},
		{RSKey: RSKey{Addr: netip.MustParseAddr("198.18.10.2"), Port: 80}, Weight: 0},
	}}
	if got, ok := st.Route(k); !ok || len(got) != 1 || got[0].String() != "198.18.10.1:80" {
		t.Errorf("Route = %v %v", got, ok)
	}
	if got := st.Draining(k); len(got) != 1 || got[0].String() != "198.18.10.2:80" {
		t.Errorf("Draining = %v", got)
	}
	if _, ok := st.Route(vs("198.18.0.2", 80, TCP)); ok {
		t.Error("Route found a virtual server that does not exist")
	}
	c := st.Clone()
	c.Services[k].Reals[0].Weight = 5
	if st.Services[k].Reals[0].Weight != 1 {
		t.Error("Clone shares real servers")
	}
}

func TestNetfilterSortEqual(t *testing.T) {
	a := Netfilter{Ports: []ServicePort{{VSKey: vs("198.18.0.2", 80, TCP), Kind: KindClusterIP}, {VSKey: vs("198.18.0.1", 80, TCP), Kind: KindClusterIP},
		{VSKey: vs("198.18.0.1", 80, TCP), Kind: KindClusterIP}}}
	a.Sort()
	if len(a.Ports) != 2 || a.Ports[0].Addr != netip.MustParseAddr("198.18.0.1") {
		t.Errorf("Sort: %v", a.Lines())
	}
	b := a
	b.MasqueradeAll = true
	if a.Equal(&b) {
		t.Error("Equal ignores MasqueradeAll")
	}
	for _, c := range []Netfilter{
		{Ports: a.Ports, LocalInterface: LocalInterface{Name: "cni0"}},
		{Ports: a.Ports, LocalInterface: LocalInterface{Name: "cni0", Prefix: true}},
		{Ports: a.Ports, MasqueradeMark: 1 << 14},
	} {
		if a.Equal(&c) {
			t.Errorf("Equal ignores the difference of %v", c.Lines()[1])
		}
	}
	if got := a.ServiceIPs(); len(got) != 2 {
		t.Errorf("ServiceIPs = %v", got)
	}
}

// A Host port is served but its address is not a service IP, and it sorts
// and prints apart from the same port without Host.
func TestNetfilterHostPorts(t *testing.T) {
	n := Netfilter{Ports: []ServicePort{
		{VSKey: vs("198.18.1.1", 80, TCP), Kind: KindExternalIP, Host: true},
		{VSKey: vs("198.18.0.1", 80, TCP), Kind: KindClusterIP},
		{VSKey: vs("198.18.1.1", 30080, TCP), Kind: KindNodePort},
	}}
	n.Sort()
	if got := n.ServiceIPs(); len(got) != 1 || got[0] != netip.MustParseAddr("198.18.0.1") {
		t.Errorf("ServiceIPs = %v, want only 198.18.0.1", got)
	}
	if got := n.Lines()[2]; got != "port external-ip tcp 198.18.1.1:80 host" {
		t.Errorf("Lines()[2] = %q", got)
	}
	o := n
	o.Ports = slices.Clone(n.Ports)
	o.Ports[1].Host = false
	if n.Equal(&o) {
		t.Error("Equal ignores Host")
	}
}

func TestSetAndDeleteRealKeepRealsSorted(t *testing.T) {
	rs := func(addr string, port uint16, w int32) RealServer {
		return RealServer{RSKey: RSKey{Addr: netip.MustParseAddr(addr), Port: port}, Weight: w}
	}
	var s Service
	for _, r := range []RealServer{rs("198.18.0.3", 80, 1), rs("198.18.0.1", 80, 1), rs("198.18.0.2", 81, 1),
		rs("198.18.0.2", 80, 1), rs("198.18.0.1", 80, 0)} {
		s.SetReal(r)
	}
	s.DeleteReal(RSKey{Addr: netip.MustParseAddr("198.18.0.3"), Port: 80})
	s.DeleteReal(RSKey{Addr: netip.MustParseAddr("198.18.0.9"), Port: 80}) // absent: no-op
	want := []RealServer{rs("198.18.0.1", 80, 0), rs("198.18.0.2", 80, 1), rs("198.18.0.2", 81, 1)}
	if !slices.Equal(s.Reals, want) {
		t.Errorf("Reals = %v, want %v", s.Reals, want)
	}
	if r, ok := s.Real(want[1].RSKey); !ok || r != want[1] {
		t.Errorf("Real(%s) = %v, %v", want[1].RSKey, r, ok)
	}
}

// TestSortReals: sorted, reversed (a kernel dump of destinations added in
// order) and shuffled lists all come out in canonical order.
func TestSortReals(t *testing.T) {
	var sorted []RealServer
	for i := range 6 {
		sorted = append(sorted, RealServer{RSKey: RSKey{Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + i/2)}), Port: uint16(80 + i%2)}})
	}
	reversed := slices.Clone(sorted)
	slices.Reverse(reversed)
	shuffled := []RealServer{sorted[3], sorted[0], sorted[5], sorted[1], sorted[4], sorted[2]}
	for name, in := range map[string][]RealServer{"sorted": sorted, "reversed": reversed, "shuffled": shuffled, "empty": nil} {
		s := Service{Reals: slices.Clone(in)}
		s.SortReals()
		if want := sorted[:len(in)]; !slices.Equal(s.Reals, want) {
			t.Errorf("%s: %v, want %v", name, s.Reals, want)
		}
	}
}
