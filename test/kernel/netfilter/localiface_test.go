//go:build vmtest

package netfilter_test

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// ifaceTopology is a node with pods behind a bridge and behind a routed
// veth, as CNI plugins attach them, in front of one backend:
//
//	bridged  198.18.1.2 ── br-pods 198.18.1.1 (port podbr0) ┐
//	routed   198.18.4.2 ── podveth1 198.18.4.1              ┤ node: kube-ipvs0 198.19.0.10, 198.19.0.11
//	external 198.18.2.2 ── veth-ext 198.18.2.1              ┤       (cluster IPs), 198.19.0.30 (external IP)
//	backend  198.18.3.2 ── veth-backend 198.18.3.1          ┘
//	  listens :8080
//
// and the same in IPv6 (fd00:18:N::/64, cluster IP fd00:19::10). The address
// the backend sees tells whether the node masqueraded.
type ifaceTopology struct {
	node, bridged, routed, external, backend *netNS
	k                                        *netfilter.Kernel
}

func newIfaceTopology(t *testing.T) *ifaceTopology {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skipf("IPVS is not loaded in this kernel (%v): run in the VM harness", err)
	}
	top := &ifaceTopology{
		node: newNetNS(t, "node"), bridged: newNetNS(t, "bridged pod"), routed: newNetNS(t, "routed pod"),
		external: newNetNS(t, "external"), backend: newNetNS(t, "backend"),
	}
	top.node.addBridge(t, "br-pods", "198.18.1.1/24", "fd00:18:1::1/64")
	attachToBridge(t, top.node, "podbr0", "br-pods", top.bridged, []string{"198.18.1.2/24", "fd00:18:1::2/64"}, "198.18.1.1", "fd00:18:1::1")
	connect(t, top.node, "podveth1", []string{"198.18.4.1/24", "fd00:18:4::1/64"}, top.routed, "eth0", []string{"198.18.4.2/24", "fd00:18:4::2/64"})
	connect(t, top.node, "veth-ext", []string{"198.18.2.1/24", "fd00:18:2::1/64"}, top.external, "eth0", []string{"198.18.2.2/24", "fd00:18:2::2/64"})
	connect(t, top.node, "veth-backend", []string{"198.18.3.1/24", "fd00:18:3::1/64"}, top.backend, "eth0", []string{"198.18.3.2/24", "fd00:18:3::2/64"})
	top.node.addDummy(t, "kube-ipvs0", "198.19.0.10/32", "198.19.0.11/32", "198.19.0.30/32", "fd00:19::10/128")
	top.node.sysctl(t, "net.ipv4.ip_forward", "1")
	top.node.sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	top.node.sysctl(t, "net.ipv4.vs.conntrack", "1")
	top.backend.serveTCP(t, 8080)
	h, err := ipvs.New(top.node.Path)
	if err != nil {
		t.Fatalf("IPVS handle: %v", err)
	}
	t.Cleanup(h.Close)
	for _, vip := range []string{"198.19.0.10", "198.19.0.11", "198.19.0.30", "fd00:19::10"} {
		addVirtualServer(t, h, vip, 80, "198.18.3.2", "fd00:18:3::2")
	}
	top.k = netfilter.New(netfilter.Config{NetNS: int(top.node.Handle)})
	return top
}

// addVirtualServer adds vip:port (TCP, NAT) with the backend of its family
// as its only real server, port 8080.
func addVirtualServer(t *testing.T, h *ipvs.Handle, vip string, port uint16, backend4, backend6 string) {
	t.Helper()
	ip, family, mask, rs := net.ParseIP(vip).To4(), uint16(syscall.AF_INET), uint32(0xffffffff), net.ParseIP(backend4).To4()
	if ip == nil {
		ip, family, mask, rs = net.ParseIP(vip), syscall.AF_INET6, 128, net.ParseIP(backend6)
	}
	svc := &ipvs.Service{Address: ip, Port: port, Protocol: syscall.IPPROTO_TCP, AddressFamily: family, SchedName: "rr", Netmask: mask}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("adding virtual server %s:%d: %v", vip, port, err)
	}
	dst := &ipvs.Destination{Address: rs, Port: 8080, Weight: 1, ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: family}
	if err := h.NewDestination(svc, dst); err != nil {
		t.Fatalf("adding real server to %s:%d: %v", vip, port, err)
	}
}

// ifaceIntent is what Build gives for detectLocalMode BridgeInterface or
// InterfaceNamePrefix: the local interface and kube-proxy's default mark,
// no local CIDRs.
func ifaceIntent(iface model.LocalInterface, ports ...model.ServicePort) *model.Netfilter {
	n := &model.Netfilter{
		LocalInterface: iface, MasqueradeMark: 1 << 14,
		Ports: append([]model.ServicePort{
			sp(model.KindClusterIP, "tcp 198.19.0.10:80"),
			sp(model.KindClusterIP, "tcp [fd00:19::10]:80"),
			sp(model.KindExternalIP, "tcp 198.19.0.30:80"),
		}, ports...),
		Hairpin: []model.Endpoint{{Addr: netip.MustParseAddr("198.18.3.2"), Port: 8080, Proto: model.TCP}},
	}
	n.Sort()
	return n
}

// TestLocalInterface runs kube-proxy's interface detect-local modes on a
// real kernel: a connection to a cluster IP that enters the node through
// the pods' bridge (BridgeInterface) or an interface with the pods'
// prefix (InterfaceNamePrefix) keeps its source; one from another
// interface, or from the node itself, is masqueraded, as kube-proxy's IPVS
// mode marks `! -i BRIDGE` (or `! -i PREFIX+`) connections to KUBE-CLUSTER-IP
// in nat PREROUTING and OUTPUT.
func TestLocalInterface(t *testing.T) {
	top := newIfaceTopology(t)
	const masq4, masq6 = "seen 198.18.3.1", "seen fd00:18:3::1" // the node's address towards the backend
	// Without our tables IPVS forwards every client's address.
	checkFlows(t, []flow{
		{top.bridged, "tcp", "198.19.0.10:80", "seen 198.18.1.2"},
		{top.external, "tcp", "198.19.0.10:80", "seen 198.18.2.2"},
	})
	checkNodeFlow(t, top.node, "198.18.2.1", "198.19.0.10:80", "seen 198.18.2.1")

	bridge := ifaceIntent(model.LocalInterface{Name: "br-pods"})
	if err := top.k.Apply(bridge); err != nil {
		t.Fatal(err)
	}
	marked := watchMark(t, top.node, 1<<14)
	if err := top.k.Verify(bridge); err != nil {
		t.Fatalf("Verify: the kernel's tables do not read back as translated: %v", err)
	}
	checkFlows(t, []flow{
		{top.bridged, "tcp", "198.19.0.10:80", "seen 198.18.1.2"},     // through the bridge: local
		{top.bridged, "tcp", "[fd00:19::10]:80", "seen fd00:18:1::2"}, // in both families
		{top.routed, "tcp", "198.19.0.10:80", masq4},                  // a pod subnet, another interface
		{top.external, "tcp", "198.19.0.10:80", masq4},                // from outside
		{top.external, "tcp", "[fd00:19::10]:80", masq6},              //
		{top.bridged, "tcp", "198.19.0.30:80", masq4},                 // external IP: policy Cluster, whoever asks
		{top.backend, "tcp", "198.19.0.10:80", masq4},                 // hairpin
		{top.node, "tcp", "198.19.0.10:80", masq4},                    // the node, from the service address
	})
	checkNodeFlow(t, top.node, "198.18.2.1", "198.19.0.10:80", masq4) // the node, from its own address
	checkNodeFlow(t, top.node, "fd00:18:2::1", "[fd00:19::10]:80", masq6)
	// The bit was set (after the nat chains of prerouting and output) and
	// no packet left postrouting with it: our nat-postrouting cleared it.
	if before, after := marked(); before == 0 || after != 0 {
		t.Errorf("packets with the masquerade bit: %d after prerouting/output (want some), %d after postrouting (want 0)", before, after)
	} else {
		t.Logf("%d packets carried the masquerade bit into the node, none out of postrouting", before)
	}

	// A new cluster IP is an element update that the mark rules cover.
	more := ifaceIntent(bridge.LocalInterface, sp(model.KindClusterIP, "tcp 198.19.0.11:80"))
	if err := top.k.Update(bridge, more, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := top.k.Verify(more); err != nil {
		t.Fatalf("Verify after Update: %v", err)
	}
	checkFlows(t, []flow{
		{top.bridged, "tcp", "198.19.0.11:80", "seen 198.18.1.2"},
		{top.external, "tcp", "198.19.0.11:80", masq4},
	})

	// InterfaceNamePrefix "podveth": now the routed pod is local and the
	// bridged one, entering through br-pods, is not. The rules change, so
	// Update replaces the tables.
	prefix := ifaceIntent(model.LocalInterface{Name: "podveth", Prefix: true}, sp(model.KindClusterIP, "tcp 198.19.0.11:80"))
	if err := top.k.Update(more, prefix, nil); err != nil {
		t.Fatalf("Update to the prefix: %v", err)
	}
	if err := top.k.Verify(prefix); err != nil {
		t.Fatalf("Verify after the mode changed: %v", err)
	}
	checkFlows(t, []flow{
		{top.routed, "tcp", "198.19.0.10:80", "seen 198.18.4.2"},
		{top.routed, "tcp", "[fd00:19::10]:80", "seen fd00:18:4::2"},
		{top.routed, "tcp", "198.19.0.11:80", "seen 198.18.4.2"},
		{top.bridged, "tcp", "198.19.0.10:80", masq4},
		{top.external, "tcp", "198.19.0.10:80", masq4},
	})
	checkNodeFlow(t, top.node, "198.18.2.1", "198.19.0.10:80", masq4)

	if err := top.k.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{{top.external, "tcp", "198.19.0.10:80", "seen 198.18.2.2"}})
}

// watchMark counts, in a table of the test's own, the packets that carry
// bit after the nat chains of prerouting and output (priority 0) and those
// that still carry it after nat postrouting (priority 200). It returns a
// function that reads the two counts.
func watchMark(t *testing.T, node *netNS, bit uint32) func() (before, after uint64) {
	t.Helper()
	c := conn(t, node)
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "watch-mark"})
	hooks := []struct {
		name     string
		hook     *nftables.ChainHook
		priority nftables.ChainPriority
	}{
		{"pre", nftables.ChainHookPrerouting, 0}, {"out", nftables.ChainHookOutput, 0}, {"post", nftables.ChainHookPostrouting, 200},
	}
	for _, h := range hooks {
		prio := h.priority
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: h.hook, Priority: &prio})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Counter{},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("adding the watch table: %v", err)
	}
	count := func(chain string) uint64 {
		rules, err := c.GetRules(tbl, &nftables.Chain{Name: chain, Table: tbl})
		if err != nil || len(rules) != 1 {
			t.Fatalf("reading the watch chain %s: %v", chain, err)
		}
		for _, e := range rules[0].Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				return ctr.Packets
			}
		}
		t.Fatalf("no counter in the watch chain %s", chain)
		return 0
	}
	return func() (uint64, uint64) { return count("pre") + count("out"), count("post") }
}

// addBridge creates a bridge holding addresses, as a CNI bridge plugin's
// cni0.
func (n *netNS) addBridge(t *testing.T, name string, addrs ...string) {
	t.Helper()
	if err := n.NL.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatalf("%s: adding bridge %s: %v", n.name, name, err)
	}
	n.up(t, name)
	n.addAddrs(t, name, addrs...)
}

// attachToBridge links a pod namespace to a bridge of the node with a veth
// pair (port on the node, eth0 in the pod) and routes the pod through the
// gateways.
func attachToBridge(t *testing.T, node *netNS, port, bridge string, pod *netNS, podAddrs []string, gateways ...string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(pod.Handle))}
	if err := node.NL.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth %s: %v", port, err)
	}
	br, err := node.NL.LinkByName(bridge)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.NL.LinkSetMaster(node.up(t, port), br); err != nil {
		t.Fatalf("attaching %s to %s: %v", port, bridge, err)
	}
	pl := pod.up(t, "eth0")
	pod.addAddrs(t, "eth0", podAddrs...)
	for _, gw := range gateways {
		r := &netlink.Route{LinkIndex: pl.Attrs().Index, Gw: net.ParseIP(gw)}
		if err := pod.NL.RouteAdd(r); err != nil {
			t.Fatalf("%s: default route via %s: %v", pod.name, gw, err)
		}
	}
	// IPv6 on a fresh bridge forwards once its port has left the
	// listening and learning states (no STP: at once) and DAD is off.
	node.sysctl(t, "net.ipv6.conf."+bridge+".accept_dad", "0")
}

// checkNodeFlow connects from the node itself, bound to src (a node
// address, not the service address that the route to kube-ipvs0 would
// pick), and checks what the backend answers.
func checkNodeFlow(t *testing.T, node *netNS, src, dst, want string) {
	t.Helper()
	var got string
	node.Do(t, func() {
		d := net.Dialer{Timeout: 2500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", dst)
		if err != nil {
			got = outcome(t, err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		k, _ := c.Read(buf)
		got = string(buf[:k])
		if len(got) > 0 && got[len(got)-1] == '\n' {
			got = got[:len(got)-1]
		}
	})
	if got != want {
		t.Errorf("node %s -> %s: %s, want %s", src, dst, got, want)
	}
}
