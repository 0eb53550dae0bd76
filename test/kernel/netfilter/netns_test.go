//go:build vmtest

package netfilter_test

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// netNS is a fresh network namespace owned by one test, with a name for
// messages.
type netNS struct {
	*netnstest.NetNS
	name string
}

// newNetNS creates a namespace with lo up, closed when the test ends.
func newNetNS(t *testing.T, name string) *netNS {
	t.Helper()
	return &netNS{NetNS: netnstest.New(t), name: name}
}

func (n *netNS) up(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := n.NL.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.name, name, err)
	}
	if err := n.NL.LinkSetUp(l); err != nil {
		t.Fatalf("%s: setting %s up: %v", n.name, name, err)
	}
	return l
}

// sysctl writes /proc/sys/<key> inside the namespace.
func (n *netNS) sysctl(t *testing.T, key, value string) {
	t.Helper()
	n.Do(t, func() {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			t.Fatalf("%s: sysctl %s=%s: %v", n.name, key, value, err)
		}
	})
}

// addAddrs adds addresses (as prefixes) to a link.
func (n *netNS) addAddrs(t *testing.T, link string, prefixes ...string) {
	t.Helper()
	l, err := n.NL.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		a, err := netlink.ParseAddr(p)
		if err != nil {
			t.Fatal(err)
		}
		if a.IP.To4() == nil {
			a.Flags = syscall.IFA_F_NODAD // usable at once
		}
		if err := n.NL.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: adding %s to %s: %v", n.name, p, link, err)
		}
	}
}

// addDummy creates a dummy interface holding service addresses, as
// kube-ipvs0 does.
func (n *netNS) addDummy(t *testing.T, name string, addrs ...string) {
	t.Helper()
	err := n.NL.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}})
	if errors.Is(err, syscall.EOPNOTSUPP) {
		// A kernel without the dummy driver: lo holds local addresses
		// just as well for these tests.
		t.Logf("%s: no dummy interfaces in this kernel, putting the service addresses on lo", n.name)
		n.addAddrs(t, "lo", addrs...)
		return
	}
	if err != nil {
		t.Fatalf("%s: adding dummy %s: %v", n.name, name, err)
	}
	n.up(t, name)
	n.addAddrs(t, name, addrs...)
}

// connect links two namespaces with a veth pair: a gets aAddrs on aName, b
// gets bAddrs on bName and default routes through a's first addresses of
// each family (gateways).
func connect(t *testing.T, a *netNS, aName string, aAddrs []string, b *netNS, bName string, bAddrs []string) {
	t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(int(b.Handle)),
	}
	if err := a.NL.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth %s/%s: %v", aName, bName, err)
	}
	a.up(t, aName)
	bl := b.up(t, bName)
	a.addAddrs(t, aName, aAddrs...)
	b.addAddrs(t, bName, bAddrs...)
	seen := map[bool]bool{}
	for _, p := range aAddrs {
		gw := netip.MustParsePrefix(p).Addr()
		if seen[gw.Is4()] {
			continue
		}
		seen[gw.Is4()] = true
		r := &netlink.Route{LinkIndex: bl.Attrs().Index, Gw: gw.AsSlice()}
		if err := b.NL.RouteAdd(r); err != nil {
			t.Fatalf("%s: default route via %s: %v", b.name, gw, err)
		}
	}
}

// serveTCP accepts connections on every address of the namespace at port
// and writes each client the address it sees, as "seen ADDR".
func (n *netNS) serveTCP(t *testing.T, port uint16) {
	t.Helper()
	var ln net.Listener
	n.Do(t, func() {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			t.Fatalf("%s: listening on %d: %v", n.name, port, err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := netip.MustParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "seen %s\n", ap.Addr().Unmap())
			c.Close()
		}
	}()
}

// serveUDP answers every datagram to addr with "seen ADDR". It binds the
// address, so that replies come from it.
func (n *netNS) serveUDP(t *testing.T, addr string) {
	t.Helper()
	var pc net.PacketConn
	n.Do(t, func() {
		var err error
		pc, err = net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("%s: listening on udp %s: %v", n.name, addr, err)
		}
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			ap := netip.MustParseAddrPort(from.String())
			fmt.Fprintf(writerTo{pc, from}, "seen %s\n", ap.Addr().Unmap())
		}
	}()
}

type writerTo struct {
	pc net.PacketConn
	to net.Addr
}

func (w writerTo) Write(b []byte) (int, error) { return w.pc.WriteTo(b, w.to) }

// Outcomes of a connection attempt.
const (
	refused = "refused"
	timeout = "timeout"
)

// dial connects from the namespace to proto dst and returns "seen ADDR"
// (the source address the server saw), "refused" or "timeout".
func (n *netNS) dial(t *testing.T, proto, dst string) string {
	t.Helper()
	var out string
	n.Do(t, func() {
		// Over veth an ICMP error can reach the client while connect()
		// still holds the socket lock; TCP then keeps it as a soft error
		// (TcpExtLockDroppedIcmps) and fails only at the SYN retransmit
		// one second later: wait past that.
		c, err := net.DialTimeout(proto, dst, 2500*time.Millisecond)
		if err != nil {
			out = outcome(t, err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if proto == "udp" {
			if _, err := c.Write([]byte("hello\n")); err != nil {
				out = outcome(t, err)
				return
			}
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			out = outcome(t, err)
			return
		}
		out = strings.TrimSpace(line)
	})
	return out
}

func outcome(t *testing.T, err error) string {
	t.Helper()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.As(err, &ne) && ne.Timeout():
		return timeout
	}
	t.Fatalf("unexpected dial error: %v", err)
	return ""
}
