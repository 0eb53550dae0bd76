//go:build vmtest

package netfilter_test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// noLocalIntent is masqIntent plus the external IP's second port
// (198.19.0.31:81, externalTrafficPolicy Local, an echo server behind it);
// with noLocal, the Local ports (198.19.0.31:80 and :81, node port
// 198.18.2.1:30081) have no endpoint on this node: their virtual servers
// send to the backend, another node's pod for the purpose of the test.
func noLocalIntent(noLocal, localCIDRs bool) *model.Netfilter {
	n := masqIntent(false)
	n.Ports = append(n.Ports, sp(model.KindExternalIP, "tcp 198.19.0.31:81", local))
	for i := range n.Ports {
		n.Ports[i].NoLocalEndpoints = noLocal && n.Ports[i].Local
	}
	if !localCIDRs {
		n.LocalCIDRs = nil
	}
	n.Sort()
	return n
}

// TestNoLocalEndpointsDropsOutsiders: a Local port served by other nodes'
// endpoints (model.ServicePort.NoLocalEndpoints) drops new connections from
// outside the cluster, which IPVS would forward unmasqueraded; pods (local
// CIDRs) and the node itself still reach it, and established connections
// carry on.
func TestNoLocalEndpointsDropsOutsiders(t *testing.T) {
	top := newMasqTopology(t)
	addEchoService(t, top, "198.19.0.31", 81, 8081)
	const masqueraded = "seen 198.18.3.1"
	before, after := noLocalIntent(false, true), noLocalIntent(true, true)
	if err := top.k.Apply(before); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{{top.external, "tcp", "198.19.0.31:80", "seen 198.18.2.2"}})
	held := top.external.hold(t, "198.19.0.31:81")

	// The node's last local endpoint goes: an element update.
	if err := top.k.Update(before, after, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := top.k.Verify(after); err != nil {
		t.Fatalf("Verify after Update: %v", err)
	}
	if got := echo(t, held, "ping"); got != "seen 198.18.2.2 ping" {
		t.Errorf("established connection from outside: %q, want it to carry on", got)
	}
	checkFlows(t, []flow{
		{top.external, "tcp", "198.19.0.31:80", timeout},   // external IP, from outside: dropped
		{top.external, "tcp", "198.18.2.1:30081", timeout}, // node port, from outside: dropped
		{top.external, "tcp", "198.19.0.30:80", masqueraded},
		{top.external, "tcp", "198.18.2.1:30080", masqueraded}, // policy Cluster: unaffected
		{top.pod, "tcp", "198.19.0.31:80", "seen 198.18.1.2"},  // a pod: served, not masqueraded
		{top.pod, "tcp", "198.18.2.1:30081", "seen 198.18.1.2"},
		{top.node, "tcp", "198.19.0.31:80", masqueraded}, // the node, from the service address
		{top.node, "tcp", "198.18.2.1:30081", "seen 198.18.2.1"},
	})

	// A local endpoint comes back: outsiders are served again.
	if err := top.k.Update(after, before, nil); err != nil {
		t.Fatalf("Update back: %v", err)
	}
	checkFlows(t, []flow{{top.external, "tcp", "198.19.0.31:80", "seen 198.18.2.2"}})

	// Without local detection pods cannot be told from outside clients:
	// nothing is dropped (kube-proxy's IPVS mode forwards them all).
	if err := top.k.Apply(noLocalIntent(true, false)); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.external, "tcp", "198.19.0.31:80", "seen 198.18.2.2"},
		{top.pod, "tcp", "198.19.0.31:80", "seen 198.18.1.2"},
	})
}

// addEchoService adds the virtual server vip:port with the backend's
// echo server on target as its only real server.
func addEchoService(t *testing.T, top *masqTopology, vip string, port, target uint16) {
	t.Helper()
	top.backend.serveEcho(t, target)
	h, err := ipvs.New(top.node.Path)
	if err != nil {
		t.Fatalf("IPVS handle: %v", err)
	}
	t.Cleanup(h.Close)
	svc := &ipvs.Service{
		Address: net.ParseIP(vip).To4(), Port: port, Protocol: syscall.IPPROTO_TCP,
		AddressFamily: syscall.AF_INET, SchedName: "rr", Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("adding virtual server %s:%d: %v", vip, port, err)
	}
	dst := &ipvs.Destination{
		Address: net.ParseIP("198.18.3.2").To4(), Port: target, Weight: 1,
		ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET,
	}
	if err := h.NewDestination(svc, dst); err != nil {
		t.Fatalf("adding real server to %s:%d: %v", vip, port, err)
	}
}

// serveEcho answers each line a client sends with "seen ADDR LINE".
func (n *netNS) serveEcho(t *testing.T, port uint16) {
	t.Helper()
	var ln net.Listener
	n.Do(t, func() {
		var err error
		if ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
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
			go func() {
				defer c.Close()
				ap := netip.MustParseAddrPort(c.RemoteAddr().String())
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "seen %s %s", ap.Addr().Unmap(), line)
				}
			}()
		}
	}()
}

// hold opens a TCP connection from the namespace and keeps it for the test.
func (n *netNS) hold(t *testing.T, dst string) net.Conn {
	t.Helper()
	var c net.Conn
	n.Do(t, func() {
		var err error
		if c, err = net.DialTimeout("tcp", dst, 2500*time.Millisecond); err != nil {
			t.Fatalf("%s: connecting to %s: %v", n.name, dst, err)
		}
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends a line on the connection and returns the answer.
func echo(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err.Error()
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(got)
}
