//go:build vmtest

// Package conntrack_test runs the conntrack adapter (proxier/conntrack)
// against a real kernel's connection-tracking table, in fresh network
// namespaces. It needs root and nf_conntrack, nf_conntrack_netlink and
// nftables NAT: run it in the VM harness (test/vm/gotest.sh
// ./test/kernel/conntrack).
//
// Real flows are made by real UDP sockets through an nftables DNAT rule
// (the same conntrack entries IPVS creates with net.ipv4.vs.conntrack=1:
// original destination the service, reply source the endpoint). Addresses
// are from 198.18.0.0/15 and fd00::/8 only.
package conntrack_test

import (
	"fmt"
	"github.com/ipvs-proxy/ipvs-proxy/test/kernel/netnstest"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the conntrack kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/conntrack)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// adapter opens the real conntrack adapter in the namespace.
func adapter(t *testing.T, n *netnstest.NetNS) *conntrack.Netlink {
	t.Helper()
	ct, err := conntrack.New(n.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ct.Close)
	return ct
}

// dnat installs "udp to vip:port → dnat to ep" for locally generated
// traffic, which also turns connection tracking on in the namespace.
func dnat(t *testing.T, n *netnstest.NetNS, vip netip.Addr, port uint16, ep netip.AddrPort) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	fam, nfproto, off := nftables.TableFamilyIPv4, uint32(unix.NFPROTO_IPV4), uint32(16)
	if vip.Is6() {
		fam, nfproto, off = nftables.TableFamilyIPv6, unix.NFPROTO_IPV6, 24
	}
	tbl := c.AddTable(&nftables.Table{Family: fam, Name: "cttest"})
	ch := c.AddChain(&nftables.Chain{Name: "out", Table: tbl, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(vip.BitLen() / 8)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vip.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Immediate{Register: 1, Data: ep.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ep.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: nfproto, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("installing the DNAT rule: %v", err)
	}
}

// track turns connection tracking on in the namespace, as any node's
// netfilter ruleset (ours masquerades) does: a "ct state" match makes the
// kernel register its conntrack hooks there. IPVS alone does not.
func track(t *testing.T, n *netnstest.NetNS) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "cttrack"})
	policy := nftables.ChainPolicyAccept
	for _, hook := range []*nftables.ChainHook{nftables.ChainHookOutput, nftables.ChainHookPrerouting} {
		ch := c.AddChain(&nftables.Chain{Name: fmt.Sprintf("hook%d", *hook), Table: tbl,
			Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &policy})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
			&expr.Counter{},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("installing the conntrack rule: %v", err)
	}
}

// echo serves UDP echo on ep inside the namespace until the test ends.
func echo(t *testing.T, n *netnstest.NetNS, ep netip.AddrPort) {
	t.Helper()
	var conn *net.UDPConn
	n.Do(t, func() {
		var err error
		if conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ep)); err != nil {
			t.Fatalf("listening on %s: %v", ep, err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			k, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDPAddrPort(buf[:k], from)
		}
	}()
}

// roundTrip sends one datagram from client to service inside the namespace
// and waits for the echo, which must come back from the service address
// (the reply was un-DNATed by conntrack).
func roundTrip(t *testing.T, n *netnstest.NetNS, client, service netip.AddrPort) {
	t.Helper()
	conn := dial(t, n, client, service)
	defer conn.Close()
	if err := ping(conn, 5*time.Second); err != nil {
		t.Fatalf("echo from %s: %v", service, err)
	}
}

// dial opens a UDP socket from client to service inside the namespace.
func dial(t *testing.T, n *netnstest.NetNS, client, service netip.AddrPort) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	n.Do(t, func() {
		var err error
		conn, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(client), net.UDPAddrFromAddrPort(service))
		if err != nil {
			t.Fatalf("dialing %s from %s: %v", service, client, err)
		}
	})
	return conn
}

// ping sends one datagram and waits up to timeout for its echo.
func ping(conn *net.UDPConn, timeout time.Duration) error {
	if _, err := conn.Write([]byte("ping")); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64)
	for {
		k, err := conn.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:k]) == "ping" {
			return nil
		}
	}
}

// udpEntries lists the UDP entries, failing the test on error.
func udpEntries(t *testing.T, ct conntrack.Interface) map[string]bool {
	t.Helper()
	es, err := ct.List(model.UDP)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := map[string]bool{}
	for _, e := range es {
		out[e.String()] = true
	}
	return out
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
