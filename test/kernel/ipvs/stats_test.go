//go:build vmtest

package ipvs_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestRealServerStatsFollowConnections sends real TCP connections through a
// virtual server to a local real server and checks that the counters the
// drain logic reads follow them: active while open, still active and
// flowing at weight 0, inactive once closed.
func TestRealServerStatsFollowConnections(t *testing.T) {
	reset(t)
	vip, rip := "198.18.0.1", "198.18.0.2"
	addLoopbackAddrs(t, vip, rip)
	ln, err := net.Listen("tcp", rip+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go echo(ln)

	vs := makeVS(vip, 80)
	rs := makeRS(rip, 8080, 1)
	if err := kernel.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	if err := kernel.AddRealServer(vs.VSKey, rs); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", vip+":80", 5*time.Second)
		if err != nil {
			t.Fatalf("dialing the virtual server: %v", err)
		}
		defer c.Close()
		roundTrip(t, c)
		conns = append(conns, c)
	}
	waitStats(t, vs.VSKey, rs.RSKey, "3 active", func(s model.RealServerStats) bool { return s.ActiveConns == 3 })

	// Drain: weight 0 keeps established connections flowing and counted.
	rs.Weight = 0
	if err := kernel.UpdateRealServer(vs.VSKey, rs); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, conns[0])
	waitStats(t, vs.VSKey, rs.RSKey, "3 active at weight 0", func(s model.RealServerStats) bool { return s.ActiveConns == 3 })

	for _, c := range conns {
		c.Close()
	}
	waitStats(t, vs.VSKey, rs.RSKey, "0 active, some inactive", func(s model.RealServerStats) bool {
		return s.ActiveConns == 0 && s.InactiveConns > 0
	})
}

// addLoopbackAddrs binds host addresses on lo for the test's duration.
func addLoopbackAddrs(t *testing.T, addrs ...string) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		p := netip.PrefixFrom(netip.MustParseAddr(a), 32)
		nla := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := netlink.AddrReplace(lo, nla); err != nil {
			t.Fatalf("adding %s to lo: %v", p, err)
		}
		t.Cleanup(func() { _ = netlink.AddrDel(lo, nla) })
	}
}

// echo serves connections by copying input back.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// roundTrip proves a connection carries data both ways.
func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the virtual server: %q, %v", buf, err)
	}
}

// waitStats polls RealServerStats until ok holds for the real server, for up
// to ten seconds.
func waitStats(t *testing.T, vs model.VSKey, rs model.RSKey, what string, ok func(model.RealServerStats) bool) {
	t.Helper()
	var last model.RealServerStats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		st, err := kernel.RealServerStats(vs)
		if err != nil {
			t.Fatalf("RealServerStats: %v", err)
		}
		if last = st[rs]; ok(last) {
			return
		}
	}
	t.Fatalf("counters of %s never reached %s; last %+v", rs, what, last)
}
