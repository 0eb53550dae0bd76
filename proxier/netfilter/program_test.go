package netfilter

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestTranslate(t *testing.T) {
	tests := []struct {
		name   string
		intent *model.Netfilter
	}{
		{name: "empty", intent: makeIntent()},
		{
			name: "cluster-ip",
			intent: makeIntent(
				withLocalCIDRs("10.244.0.0/16"),
				withPort(model.KindClusterIP, "tcp 10.96.0.1:443"),
				withPort(model.KindClusterIP, "udp 10.96.0.10:53"),
				withPort(model.KindClusterIP, "tcp 10.96.0.10:53"),
				withHairpin("tcp 10.244.1.7:53"),
			),
		},
		{
			name: "masquerade-all",
			intent: makeIntent(masqueradeAll,
				withLocalCIDRs("10.244.0.0/16"),
				withPort(model.KindClusterIP, "tcp 10.96.0.1:443"),
				withPort(model.KindExternalIP, "tcp 198.18.5.5:80", local()),
			),
		},
		{
			name: "dual-stack",
			intent: makeIntent(
				withLocalCIDRs("10.244.0.0/16", "fd00:10:244::/56"),
				withPort(model.KindClusterIP, "tcp 10.96.0.20:80"),
				withPort(model.KindClusterIP, "tcp [fd00:96::20]:80"),
				withPort(model.KindExternalIP, "tcp 198.18.5.5:80"),
				withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.100.0/24", "198.18.100.128/25", "198.18.101.0/24", "fd00:aa::/64")),
				withPort(model.KindLoadBalancer, "tcp [fd00:6::1]:443", ranges("198.18.100.0/24", "fd00:aa::/64"), local()),
				withPort(model.KindLoadBalancer, "udp 198.18.6.2:53", local()),
				withPort(model.KindNodePort, "tcp 198.18.0.10:30080"),
				withPort(model.KindNodePort, "tcp [fd00:18::10]:30080"),
				withPort(model.KindNodePort, "sctp 198.18.0.10:30132", local()),
				withNodePort(model.TCP, 30080, false),
				withNodePort(model.SCTP, 30132, true),
				withHairpin("tcp 10.244.1.7:8080"),
				withHairpin("tcp [fd00:10:244::7]:8080"),
			),
		},
		{
			// Ports on the host's own addresses: in service-ports and
			// masq-ports, but not in service-ips nor the firewall sets.
			name: "host-addresses",
			intent: makeIntent(
				withPort(model.KindClusterIP, "tcp 10.96.0.1:443"),
				withPort(model.KindExternalIP, "tcp 198.18.0.10:80", host()),
				withPort(model.KindLoadBalancer, "tcp 198.18.0.11:443", host(), ranges("198.18.100.0/24")),
				withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.100.0/24")),
			),
		},
		{
			// externalTrafficPolicy Local ports served by other nodes'
			// endpoints: in no-local-endpoints where the family has local
			// CIDRs (IPv4 here), nowhere else (IPv6: pods could not be
			// told from outside clients). Still not masqueraded.
			name: "no-local-endpoints",
			intent: makeIntent(
				withLocalCIDRs("10.244.0.0/16"),
				withPort(model.KindClusterIP, "tcp 10.96.0.20:80"),
				withPort(model.KindExternalIP, "tcp 198.18.5.5:80", local(), noLocal()),
				withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", local(), noLocal(), ranges("198.18.100.0/24")),
				withPort(model.KindLoadBalancer, "tcp 198.18.6.2:443", local()),
				withPort(model.KindNodePort, "tcp 198.18.0.10:30080", local(), noLocal()),
				withPort(model.KindNodePort, "tcp [fd00:18::10]:30080", local(), noLocal()),
				withNodePort(model.TCP, 30080, true),
			),
		},
		{
			// detectLocalMode BridgeInterface: nat chains mark cluster-IP
			// connections from elsewhere and from the node; the no-local-
			// endpoints drop tests the input interface; both families
			// classify, whatever local CIDRs.
			name: "bridge-interface",
			intent: makeIntent(withLocalInterface("cni0", 1<<14),
				withPort(model.KindClusterIP, "tcp 10.96.0.20:80"),
				withPort(model.KindClusterIP, "tcp [fd00:96::20]:80"),
				withPort(model.KindExternalIP, "tcp 198.18.5.5:80", local(), noLocal()),
				withHairpin("tcp 10.244.1.7:8080"),
			),
		},
		{
			// detectLocalMode InterfaceNamePrefix with iptables.masqueradeBit 3.
			name: "interface-name-prefix",
			intent: makeIntent(withLocalInterface("veth*", 1<<3),
				withPort(model.KindClusterIP, "tcp 10.96.0.20:80"),
			),
		},
		{
			name: "ipv6-only",
			intent: makeIntent(
				withPort(model.KindClusterIP, "udp [fd00:96::a]:53"),
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, Translate(tc.intent, DefaultTableName).String())
		})
	}
}

// TestTranslateRuleCountConstant proves the design goal: services add set
// elements, never rules.
func TestTranslateRuleCountConstant(t *testing.T) {
	rules := -1
	for _, services := range []int{1, 10, 1000, 20000} {
		n := manyServices(services)
		for i := range n.Ports {
			if p := &n.Ports[i]; p.Kind == model.KindExternalIP {
				p.Local, p.NoLocalEndpoints = true, true // served by other nodes' endpoints
			}
		}
		p := Translate(n, DefaultTableName)
		if rules == -1 {
			rules = p.RuleCount()
		}
		if got := p.RuleCount(); got != rules {
			t.Errorf("services=%d: %d rules, want %d as for one service", services, got, rules)
		}
		counts := p.ElementCount()
		want := map[string]int{
			"ip/service-ips":        services * 3, // cluster IP, external IP, load balancer
			"ip/service-ports":      services * 3,
			"ip/masq-ports":         services * 2, // load balancer, node port
			"ip/cluster-ports":      services,
			"ip/firewall-ports":     services,
			"ip/firewall-allow":     services,
			"ip/no-local-endpoints": services, // the external IP
			"ip/hairpin":            services,
			"ip/node-ports":         services,
			"ip/local-cidrs":        1,
			"ip/reject-protos":      3,
		}
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("services=%d: element counts (-want +got):\n%s", services, diff)
		}
	}
	if rules != 10 {
		t.Errorf("%d rules per table, want 10", rules)
	}
}

// manyServices builds an intent of n LoadBalancer services with a cluster
// IP, an external IP, a node port, source ranges and a local endpoint each.
func manyServices(n int) *model.Netfilter {
	return makeIntent(withLocalCIDRs("10.244.0.0/16"), func(nf *model.Netfilter) {
		for i := range n {
			hi, lo := byte(i>>8), byte(i)
			nodePort := uint16(30000 + i%2768)
			if i >= 2768 {
				nodePort = uint16(40000 + i)
			}
			nf.Ports = append(nf.Ports,
				port(model.KindClusterIP, netip.AddrFrom4([4]byte{10, 96, hi, lo}), 80),
				port(model.KindExternalIP, netip.AddrFrom4([4]byte{198, 18, hi, lo}), 80),
				port(model.KindLoadBalancer, netip.AddrFrom4([4]byte{198, 19, hi, lo}), 80, netip.MustParsePrefix("198.18.0.0/16")),
				port(model.KindNodePort, netip.MustParseAddr("198.18.255.1"), nodePort),
			)
			nf.NodePorts = append(nf.NodePorts, model.NodePort{Proto: model.TCP, Port: nodePort})
			nf.Hairpin = append(nf.Hairpin, model.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 244, hi, lo}), Port: 8080, Proto: model.TCP})
		}
	})
}

func port(kind model.PortKind, addr netip.Addr, p uint16, ranges ...netip.Prefix) model.ServicePort {
	return model.ServicePort{VSKey: model.VSKey{Addr: addr, Port: p, Proto: model.TCP}, Kind: kind, SourceRanges: ranges}
}

func TestPrefixRanges(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{in: []string{"10.0.0.0/8"}, want: []string{"10.0.0.0/8"}},
		{in: []string{"10.1.0.0/16", "10.0.0.0/8"}, want: []string{"10.0.0.0/8"}},
		{in: []string{"10.0.0.0/24", "10.0.1.0/24"}, want: []string{"10.0.0.0/23"}},
		{in: []string{"10.0.0.0/24", "10.0.2.0/24"}, want: []string{"10.0.0.0/24", "10.0.2.0/24"}},
		{in: []string{"10.0.1.0/24", "10.0.2.0/24"}, want: []string{"10.0.1.0-10.0.2.255"}},
		{in: []string{"10.0.0.5/8"}, want: []string{"10.0.0.0/8"}}, // unmasked input
		{in: []string{"0.0.0.0/0", "10.0.0.0/8"}, want: []string{"0.0.0.0/0"}},
		{in: []string{"255.255.255.255/32", "255.255.255.254/32"}, want: []string{"255.255.255.254/31"}},
		{in: []string{"fd00::/64", "10.0.0.0/8"}, want: []string{"10.0.0.0/8"}}, // other family ignored
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			var in []netip.Prefix
			for _, s := range tc.in {
				in = append(in, netip.MustParsePrefix(s))
			}
			var got []string
			for _, r := range prefixRanges(in, families[0]) {
				got = append(got, formatRange(FieldIPv4, r.from, r.to))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTranslateMergesRangesPerPort covers two services claiming one
// load-balancer port: their ranges must not overlap in the kernel's set.
func TestTranslateMergesRangesPerPort(t *testing.T) {
	n := makeIntent(
		withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.100.0/24")),
		withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.100.0/25", "198.18.101.0/24"), local()),
	)
	p := Translate(n, DefaultTableName)
	s := findSet(t, p, 0, setFirewallAllow)
	var got []string
	for _, e := range s.Elements {
		got = append(got, s.renderElement(e))
	}
	want := []string{"198.18.6.1 . tcp . 443 . 198.18.100.0/23"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func findSet(t *testing.T, p *Program, table int, name string) Set {
	t.Helper()
	for _, s := range p.Tables[table].Sets {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no set %s in table %d", name, table)
	return Set{}
}
