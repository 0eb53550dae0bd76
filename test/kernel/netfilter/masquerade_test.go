//go:build vmtest

package netfilter_test

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// masqTopology is a node running IPVS NAT in front of one backend:
//
//	pod      198.18.1.2 ── 198.18.1.1 ┐
//	external 198.18.2.2 ── 198.18.2.1 ┤ node: kube-ipvs0 198.19.0.10 (cluster IP)
//	backend  198.18.3.2 ── 198.18.3.1 ┘       198.19.0.30, 198.19.0.31 (external IPs)
//	  listens :8080                           node ports 198.18.2.1:30080, :30081
//
// and the same in IPv6 (fd00:18:N::/64 links, cluster IP fd00:19::10).
//
// Every virtual server has the backend as its only real server, so the
// address the backend sees tells whether the node masqueraded.
type masqTopology struct {
	node, pod, external, backend *netNS
	k                            *netfilter.Kernel
}

func newMasqTopology(t *testing.T) *masqTopology {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skipf("IPVS is not loaded in this kernel (%v): run in the VM harness", err)
	}
	top := &masqTopology{
		node:     newNetNS(t, "node"),
		pod:      newNetNS(t, "pod"),
		external: newNetNS(t, "external"),
		backend:  newNetNS(t, "backend"),
	}
	connect(t, top.node, "veth-pod", []string{"198.18.1.1/24", "fd00:18:1::1/64"}, top.pod, "eth0", []string{"198.18.1.2/24", "fd00:18:1::2/64"})
	connect(t, top.node, "veth-ext", []string{"198.18.2.1/24", "fd00:18:2::1/64"}, top.external, "eth0", []string{"198.18.2.2/24", "fd00:18:2::2/64"})
	connect(t, top.node, "veth-backend", []string{"198.18.3.1/24", "fd00:18:3::1/64"}, top.backend, "eth0", []string{"198.18.3.2/24", "fd00:18:3::2/64"})
	top.node.addDummy(t, "kube-ipvs0", "198.19.0.10/32", "198.19.0.30/32", "198.19.0.31/32", "fd00:19::10/128")
	top.node.sysctl(t, "net.ipv4.ip_forward", "1")
	top.node.sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	top.node.sysctl(t, "net.ipv4.vs.conntrack", "1")
	top.backend.serveTCP(t, 8080)

	h, err := ipvs.New(top.node.Path)
	if err != nil {
		t.Fatalf("IPVS handle: %v", err)
	}
	t.Cleanup(h.Close)
	backend4, backend6 := net.ParseIP("198.18.3.2").To4(), net.ParseIP("fd00:18:3::2")
	for _, vip := range []struct {
		addr string
		port uint16
	}{{"198.19.0.10", 80}, {"198.19.0.30", 80}, {"198.19.0.31", 80}, {"198.18.2.1", 30080}, {"198.18.2.1", 30081}, {"fd00:19::10", 80}} {
		ip, family, mask, rs := net.ParseIP(vip.addr).To4(), uint16(syscall.AF_INET), uint32(0xffffffff), backend4
		if ip == nil {
			ip, family, mask, rs = net.ParseIP(vip.addr), syscall.AF_INET6, 128, backend6
		}
		svc := &ipvs.Service{
			Address: ip, Port: vip.port, Protocol: syscall.IPPROTO_TCP,
			AddressFamily: family, SchedName: "rr", Netmask: mask,
		}
		if err := h.NewService(svc); err != nil {
			t.Fatalf("adding virtual server %s:%d: %v", vip.addr, vip.port, err)
		}
		dst := &ipvs.Destination{
			Address: rs, Port: 8080, Weight: 1,
			ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: family,
		}
		if err := h.NewDestination(svc, dst); err != nil {
			t.Fatalf("adding real server to %s:%d: %v", vip.addr, vip.port, err)
		}
	}
	top.k = netfilter.New(netfilter.Config{NetNS: int(top.node.Handle)})
	return top
}

func masqIntent(all bool) *model.Netfilter {
	n := &model.Netfilter{
		MasqueradeAll: all,
		// The pod and the backend are on cluster-local networks.
		LocalCIDRs: []netip.Prefix{pfx("198.18.1.0/24"), pfx("198.18.3.0/24"), pfx("fd00:18:1::/64"), pfx("fd00:18:3::/64")},
		Ports: []model.ServicePort{
			sp(model.KindClusterIP, "tcp 198.19.0.10:80"),
			sp(model.KindClusterIP, "tcp [fd00:19::10]:80"),
			sp(model.KindExternalIP, "tcp 198.19.0.30:80"),
			sp(model.KindExternalIP, "tcp 198.19.0.31:80", local),
			sp(model.KindNodePort, "tcp 198.18.2.1:30080"),
			sp(model.KindNodePort, "tcp 198.18.2.1:30081", local),
		},
		NodePorts: []model.NodePort{{Proto: model.TCP, Port: 30080}, {Proto: model.TCP, Port: 30081, Local: true}},
		Hairpin: []model.Endpoint{
			{Addr: netip.MustParseAddr("198.18.3.2"), Port: 8080, Proto: model.TCP},
			{Addr: netip.MustParseAddr("fd00:18:3::2"), Port: 8080, Proto: model.TCP},
		},
	}
	n.Sort()
	return n
}

func TestMasquerade(t *testing.T) {
	top := newMasqTopology(t)
	const masqueraded = "seen 198.18.3.1" // the node's address towards the backend
	// Without our tables IPVS forwards with the client's address.
	checkFlows(t, []flow{{top.external, "tcp", "198.19.0.10:80", "seen 198.18.2.2"}})

	if err := top.k.Apply(masqIntent(false)); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.pod, "tcp", "198.19.0.10:80", "seen 198.18.1.2"},      // cluster IP from a local CIDR
		{top.external, "tcp", "198.19.0.10:80", masqueraded},       // cluster IP from elsewhere
		{top.external, "tcp", "198.19.0.30:80", masqueraded},       // external IP, policy Cluster
		{top.external, "tcp", "198.19.0.31:80", "seen 198.18.2.2"}, // external IP, policy Local
		{top.external, "tcp", "198.18.2.1:30080", masqueraded},     // node port, policy Cluster
		{top.external, "tcp", "198.18.2.1:30081", "seen 198.18.2.2"},
		{top.backend, "tcp", "198.19.0.10:80", masqueraded}, // hairpin: the backend reaches itself
		{top.node, "tcp", "198.19.0.10:80", masqueraded},    // node-originated, from the service address
		{top.pod, "tcp", "[fd00:19::10]:80", "seen fd00:18:1::2"},
		{top.external, "tcp", "[fd00:19::10]:80", "seen fd00:18:3::1"},
		{top.backend, "tcp", "[fd00:19::10]:80", "seen fd00:18:3::1"},
	})

	if err := top.k.Apply(masqIntent(true)); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.pod, "tcp", "198.19.0.10:80", masqueraded},
		{top.external, "tcp", "198.19.0.31:80", "seen 198.18.2.2"}, // Local wins over masquerade-all
	})

	if err := top.k.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{{top.external, "tcp", "198.19.0.10:80", "seen 198.18.2.2"}})
}

// TestHairpinNeedsTheRule shows what the hairpin rule is for: without it a
// backend reaching itself through its service gets no answer.
func TestHairpinNeedsTheRule(t *testing.T) {
	top := newMasqTopology(t)
	n := masqIntent(false)
	n.Hairpin = nil
	if err := top.k.Apply(n); err != nil {
		t.Fatal(err)
	}
	// The backend receives a connection from its own address on its
	// interface, which it drops as a martian.
	checkFlows(t, []flow{{top.backend, "tcp", "198.19.0.10:80", timeout}})
}
