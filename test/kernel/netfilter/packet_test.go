//go:build vmtest

package netfilter_test

import (
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// filterTopology is a node with two clients, one per link, dual-stack:
//
//	allowed 198.18.1.2 fd00:18:1::2 ── 198.18.1.1 fd00:18:1::1 ┐
//	                                                           node: kube-ipvs0 198.19.0.10 198.19.0.20 fd00:19::10 fd00:19::20
//	other   198.18.2.2 fd00:18:2::2 ── 198.18.2.1 fd00:18:2::1 ┘      listeners tcp :80 :8080, udp 198.19.0.10:5353
//
// No IPVS: the node's own listeners stand for the services, which is enough
// to see what the filter rules let through.
type filterTopology struct {
	node, allowed, other *netNS
	k                    *netfilter.Kernel
}

func newFilterTopology(t *testing.T) *filterTopology {
	top := &filterTopology{
		node:    newNetNS(t, "node"),
		allowed: newNetNS(t, "allowed"),
		other:   newNetNS(t, "other"),
	}
	connect(t, top.node, "veth-allowed", []string{"198.18.1.1/24", "fd00:18:1::1/64"}, top.allowed, "eth0", []string{"198.18.1.2/24", "fd00:18:1::2/64"})
	connect(t, top.node, "veth-other", []string{"198.18.2.1/24", "fd00:18:2::1/64"}, top.other, "eth0", []string{"198.18.2.2/24", "fd00:18:2::2/64"})
	top.node.addDummy(t, "kube-ipvs0", "198.19.0.10/32", "198.19.0.20/32", "fd00:19::10/128", "fd00:19::20/128")
	top.node.serveTCP(t, 80)
	top.node.serveTCP(t, 8080)
	top.node.serveUDP(t, "198.19.0.10:5353")
	top.k = netfilter.New(netfilter.Config{NetNS: int(top.node.Handle), IPv6: true})
	return top
}

// filterIntent: a cluster IP with tcp/80 and udp/53, a load balancer with
// tcp/80 open only to the "allowed" link, both families.
func filterIntent(lbRanges ...string) *model.Netfilter {
	if lbRanges == nil {
		lbRanges = []string{"198.18.1.0/24", "fd00:18:1::/64"}
	}
	n := &model.Netfilter{Ports: []model.ServicePort{
		sp(model.KindClusterIP, "tcp 198.19.0.10:80"),
		sp(model.KindClusterIP, "udp 198.19.0.10:53"),
		sp(model.KindLoadBalancer, "tcp 198.19.0.20:80", ranges(lbRanges...)),
		sp(model.KindClusterIP, "tcp [fd00:19::10]:80"),
		sp(model.KindLoadBalancer, "tcp [fd00:19::20]:80", ranges(lbRanges...)),
	}}
	n.Sort()
	return n
}

type flow struct {
	from  *netNS
	proto string
	dst   string
	want  string // "seen ADDR", connected (from any address), refused or timeout
}

// connected is a flow outcome: the server answered, whatever the source.
const connected = "connected"

func checkFlows(t *testing.T, flows []flow) {
	t.Helper()
	for _, f := range flows {
		got := f.from.dial(t, f.proto, f.dst)
		if got == f.want || f.want == connected && strings.HasPrefix(got, "seen ") {
			continue
		}
		t.Errorf("%s %s -> %s: %s, want %s", f.from.name, f.proto, f.dst, got, f.want)
	}
}

func TestRejectUnusedPortsOnServiceAddresses(t *testing.T) {
	top := newFilterTopology(t)
	a := top.allowed
	// Without our tables, host daemons answer on service addresses.
	checkFlows(t, []flow{
		{a, "tcp", "198.19.0.10:8080", "seen 198.18.1.2"},
		{a, "udp", "198.19.0.10:5353", "seen 198.18.1.2"},
	})
	if err := top.k.Apply(filterIntent()); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{a, "tcp", "198.19.0.10:80", "seen 198.18.1.2"}, // a service port
		{a, "tcp", "198.19.0.10:8080", refused},         // kubernetes#72236
		{a, "udp", "198.19.0.10:5353", refused},         // ICMP port unreachable
		{a, "tcp", "[fd00:19::10]:80", "seen fd00:18:1::2"},
		{a, "tcp", "[fd00:19::10]:8080", refused}, // ICMPv6 port unreachable
		{a, "udp", "[fd00:19::10]:5353", refused},
		{a, "tcp", "198.18.1.1:8080", "seen 198.18.1.2"}, // node addresses are not service addresses
		{top.node, "tcp", "198.19.0.10:8080", refused},   // node-originated, through lo
	})
	if err := top.k.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{{a, "tcp", "198.19.0.10:8080", "seen 198.18.1.2"}})
}

func TestLoadBalancerSourceRanges(t *testing.T) {
	top := newFilterTopology(t)
	if err := top.k.Apply(filterIntent()); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.allowed, "tcp", "198.19.0.20:80", "seen 198.18.1.2"},
		{top.other, "tcp", "198.19.0.20:80", timeout}, // dropped
		{top.other, "tcp", "198.19.0.10:80", "seen 198.18.2.2"},
		{top.allowed, "tcp", "[fd00:19::20]:80", "seen fd00:18:1::2"},
		{top.other, "tcp", "[fd00:19::20]:80", timeout},
		// The node connects from the load-balancer address itself, outside
		// the ranges: dropped in the output hook (kubernetes#119656).
		{top.node, "tcp", "198.19.0.20:80", timeout},
	})
	// Allowing the address itself lets the node in (what kube-proxy does
	// when a range contains a node IP). The server may see another source:
	// connections from a service address to a service port are
	// masqueraded in postrouting.
	if err := top.k.Apply(filterIntent("198.18.1.0/24", "198.19.0.20/32")); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.node, "tcp", "198.19.0.20:80", connected},
		{top.other, "tcp", "198.19.0.20:80", timeout},
	})
	if err := top.k.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{{top.other, "tcp", "198.19.0.20:80", "seen 198.18.2.2"}})
}

// TestRangesOfOtherFamilyOnly: a load balancer whose ranges are all IPv6
// is not filtered on its IPv4 address (kube-proxy splits ranges by family).
func TestRangesOfOtherFamilyOnly(t *testing.T) {
	top := newFilterTopology(t)
	if err := top.k.Apply(filterIntent("fd00:18:1::/64")); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{top.other, "tcp", "198.19.0.20:80", "seen 198.18.2.2"},
		{top.other, "tcp", "[fd00:19::20]:80", timeout},
	})
}
