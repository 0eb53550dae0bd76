//go:build vmtest

package addr_test

import (
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// TestStrictARP shows why strict ARP exists and that the sysctl table
// delivers it: node A holds a service address on its dummy interface and
// node B, on the same link, asks who has it. With the kernel's defaults A
// answers (every node would: the address is local); with the strict-ARP
// settings applied by sysctl.Ensure it stays silent.
func TestStrictARP(t *testing.T) {
	nodeA, nodeB := netnstest.New(t), netnstest.New(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a0"}, PeerName: "b0",
		PeerNamespace: netlink.NsFd(int(nodeB.Handle))}
	if err := nodeA.NL.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth: %v", err)
	}
	nodeA.AddAddr(t, "a0", "198.18.60.1/24")
	nodeB.AddAddr(t, "b0", "198.18.60.2/24")
	nodeA.SetUp(t, "a0")
	nodeB.SetUp(t, "b0")
	vip := ip("198.18.61.10")
	a := ensured(t, nodeA)
	if err := a.Bind(vip); err != nil {
		t.Fatal(err)
	}
	// B believes the service range is on-link, so it ARPs for the address.
	b0 := nodeB.Link(t, "b0")
	_, dst, _ := net.ParseCIDR("198.18.61.0/24")
	if err := nodeB.NL.RouteAdd(&netlink.Route{LinkIndex: b0.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
		t.Fatal(err)
	}

	if got := arpAnswered(t, nodeB, b0, vip); !got {
		t.Fatal("with the kernel's default arp_ignore=0, A did not answer ARP for its service address; the test setup is broken")
	}

	nodeA.Do(t, func() {
		settings := sysctl.Required(sysctl.Options{StrictARP: true})
		var strict []sysctl.Setting
		for _, s := range settings {
			if s.Name == "net.ipv4.conf.all.arp_ignore" || s.Name == "net.ipv4.conf.all.arp_announce" {
				strict = append(strict, s)
			}
		}
		if len(strict) != 2 {
			t.Fatalf("strict ARP settings = %v", strict)
		}
		if _, err := sysctl.Ensure(sysctl.New(), strict); err != nil {
			t.Fatal(err)
		}
	})
	if err := nodeB.NL.NeighDel(&netlink.Neigh{LinkIndex: b0.Attrs().Index, IP: net.IP(vip.AsSlice())}); err != nil {
		t.Fatalf("flushing B's neighbour entry: %v", err)
	}
	if arpAnswered(t, nodeB, b0, vip) {
		t.Error("with strict ARP, A still answered ARP for its service address")
	}
	// A's own address on the veth is still answered.
	if !arpAnswered(t, nodeB, b0, ip("198.18.60.1")) {
		t.Error("with strict ARP, A stopped answering ARP for its own address")
	}
}

// arpAnswered sends a datagram from B to x, which makes B resolve x on
// link, and reports whether a neighbour answered within two seconds.
func arpAnswered(t *testing.T, b *netnstest.NetNS, link netlink.Link, x netip.Addr) bool {
	t.Helper()
	b.Do(t, func() {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(x, 9)))
		if err != nil {
			t.Fatalf("dialing %s: %v", x, err)
		}
		_, _ = c.Write([]byte("who-has"))
		c.Close()
	})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		neighs, err := b.NL.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range neighs {
			a, _ := netip.AddrFromSlice(nb.IP)
			if a.Unmap() == x && nb.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) != 0 && nb.HardwareAddr != nil {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
