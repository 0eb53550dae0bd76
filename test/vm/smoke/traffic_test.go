//go:build vmtest

package smoke

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestNATTraffic sends real connections through an IPVS NAT (masq) virtual
// server, bound on a dummy interface as kube-proxy does, to two backends that
// live in named network namespaces behind veth pairs; rr must alternate.
func TestNATTraffic(t *testing.T) {
	h := newIPVS(t)
	vip := bindVIP(t, "smoke-vip0", "198.18.110.1/32")
	svc := &ipvs.Service{Address: vip, Protocol: syscall.IPPROTO_TCP, Port: 80, SchedName: "rr",
		AddressFamily: syscall.AF_INET, Netmask: 0xffffffff}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("Adding virtual server: %v", err)
	}
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("be%d", i)
		ip := startBackend(t, name, i)
		dst := &ipvs.Destination{Address: ip, Port: 8080, Weight: 1,
			ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET}
		if err := h.NewDestination(svc, dst); err != nil {
			t.Fatalf("Adding real server %s: %v", ip, err)
		}
	}

	counts := map[string]int{}
	for range 6 {
		counts[ask(t, net.JoinHostPort(vip.String(), "80"))]++
	}
	if counts["be1"] != 3 || counts["be2"] != 3 {
		t.Errorf("6 connections through rr went %v, want be1:3 be2:3", counts)
	}
}

// bindVIP creates a dummy link holding cidr and returns its address.
func bindVIP(t *testing.T, name, cidr string) net.IP {
	t.Helper()
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatalf("Adding dummy %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(link) })
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		t.Fatalf("Binding %s: %v", cidr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return addr.IP
}

// startBackend creates netns NAME wired to the root namespace by a veth pair
// on 198.18.<idx>.0/24 and serves NAME on 198.18.<idx>.2:8080 inside it.
func startBackend(t *testing.T, name string, idx int) net.IP {
	t.Helper()
	hostIP, podIP := fmt.Sprintf("198.18.%d.1/24", idx), net.IPv4(198, 18, byte(idx), 2)
	ns := newNamedNetns(t, name)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "smoke-" + name}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(ns))}
	must(t, netlink.LinkAdd(veth), "adding veth")
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	addr, _ := netlink.ParseAddr(hostIP)
	must(t, netlink.AddrAdd(veth, addr), "addressing host side")
	must(t, netlink.LinkSetUp(veth), "raising host side")

	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	must(t, err, "opening netlink in "+name)
	defer nh.Close()
	for _, ifname := range []string{"lo", "eth0"} {
		l, err := nh.LinkByName(ifname)
		must(t, err, "finding "+ifname)
		must(t, nh.LinkSetUp(l), "raising "+ifname)
	}
	eth0, _ := nh.LinkByName("eth0")
	must(t, nh.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: podIP, Mask: net.CIDRMask(24, 32)}}), "addressing eth0")
	gw := net.IPv4(198, 18, byte(idx), 1)
	must(t, nh.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw}), "adding default route")

	ln := listenIn(t, ns, net.JoinHostPort(podIP.String(), "8080"))
	go serveName(ln, name)
	return podIP
}

// newNamedNetns creates /run/netns/NAME, as `ip netns add` would.
func newNamedNetns(t *testing.T, name string) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	must(t, err, "getting current netns")
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	must(t, err, "creating netns "+name)
	must(t, netns.Set(orig), "returning to the root netns")
	t.Cleanup(func() {
		ns.Close()
		_ = netns.DeleteNamed(name)
	})
	return ns
}

// listenIn opens a TCP listener inside ns; the socket stays there for good.
func listenIn(t *testing.T, ns netns.NsHandle, addr string) net.Listener {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	must(t, err, "getting current netns")
	defer orig.Close()
	must(t, netns.Set(ns), "entering netns")
	ln, lerr := net.Listen("tcp", addr)
	must(t, netns.Set(orig), "leaving netns")
	must(t, lerr, "listening on "+addr)
	t.Cleanup(func() { ln.Close() })
	return ln
}

func serveName(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintln(c, name)
		c.Close()
	}
}

// ask connects to addr and returns the first line it answers.
func ask(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("Connecting to %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("Reading from %s: %v", addr, err)
	}
	return line[:len(line)-1]
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
