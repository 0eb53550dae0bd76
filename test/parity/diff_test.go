package parity

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vs builds a virtual server from "PROTO ADDR:PORT" and real servers.
func vs(key, sched string, flags, timeout uint32, reals ...RealServer) VirtualServer {
	proto, ap, _ := strings.Cut(key, " ")
	a := netip.MustParseAddrPort(ap)
	return VirtualServer{VSKey: VSKey{Addr: a.Addr(), Port: a.Port(), Proto: proto}, Scheduler: sched, Flags: flags, Timeout: timeout, Reals: reals}
}

// rs builds a real server from "ADDR:PORT" and a weight.
func rs(ap string, w int) RealServer {
	a := netip.MustParseAddrPort(ap)
	return RealServer{RSKey: RSKey{Addr: a.Addr(), Port: a.Port()}, Weight: w}
}

func snapshot(daemon string, addrs []string, vss ...VirtualServer) *Snapshot {
	s := &Snapshot{Daemon: daemon, VirtualServers: vss}
	for _, a := range addrs {
		s.Addresses = append(s.Addresses, netip.MustParsePrefix(a))
	}
	s.Canonical()
	return s
}

// TestCompare: every kind of difference, in order, printed.
func TestCompare(t *testing.T) {
	kp := snapshot(KubeProxy, []string{"198.18.1.10/32", "198.18.1.11/32"},
		vs("TCP 198.18.1.10:80", "rr", 0, 0, rs("198.19.1.2:8080", 1), rs("198.19.1.3:8080", 1)),
		vs("UDP 198.18.1.10:53", "rr", 0, 0),
		vs("TCP 198.18.1.11:443", "mh", FlagSched2, 0),
		vs("TCP 198.19.255.15:30001", "rr", FlagPersistent, 10800, rs("198.19.1.2:8080", 1)),
	)
	ip := snapshot(IPVSProxy, []string{"198.18.1.10/32", "198.18.1.12/32"},
		vs("TCP 198.18.1.10:80", "rr", 0, 0, rs("198.19.1.2:8080", 0), rs("198.19.1.4:8080", 0)),
		vs("TCP 198.18.1.11:443", "mh", FlagSched1, 0),
		vs("TCP 198.19.255.15:30001", "rr", FlagPersistent, 60, rs("198.19.1.2:8080", 1)),
		vs("TCP 198.19.254.1:30001", "rr", FlagPersistent, 10800),
	)
	var got []string
	for _, d := range Compare(kp, ip) {
		got = append(got, d.String())
	}
	want := []string{
		`virtual server UDP 198.18.1.10:53 (-s rr, 0 real servers): only kube-proxy`,
		`real server 198.19.1.2:8080 of TCP 198.18.1.10:80: weight: kube-proxy "198.19.1.2:8080 -w 1", ipvs-proxy "198.19.1.2:8080 -w 0"`,
		`real server 198.19.1.3:8080 of TCP 198.18.1.10:80 (weight 1): only kube-proxy`,
		`real server 198.19.1.4:8080 of TCP 198.18.1.10:80 (weight 0): only ipvs-proxy`,
		`virtual server TCP 198.18.1.11:443: flags: kube-proxy "-s mh -b flag-2", ipvs-proxy "-s mh -b flag-1"`,
		`virtual server TCP 198.19.254.1:30001 (-s rr -p 10800, 0 real servers): only ipvs-proxy`,
		`virtual server TCP 198.19.255.15:30001: timeout: kube-proxy "-s rr -p 10800", ipvs-proxy "-s rr -p 60"`,
		`address 198.18.1.11/32 on kube-ipvs0: only kube-proxy`,
		`address 198.18.1.12/32 on kube-ipvs0: only ipvs-proxy`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Compare (-want +got):\n%s", d)
	}
	if n := len(Compare(kp, kp)); n != 0 {
		t.Errorf("a snapshot differs from itself in %d ways", n)
	}
}
