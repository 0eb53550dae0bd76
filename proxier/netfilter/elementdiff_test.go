package netfilter

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestDiffElements(t *testing.T) {
	tests := []struct {
		name string
		new  *model.Netfilter
		// want is the diff's String; "" with replace means no element diff.
		want    string
		replace bool
	}{
		{name: "identical", new: flowIntent()},
		{
			name: "add a cluster IP",
			new:  flowIntent(withPort(model.KindClusterIP, "tcp 10.96.0.20:80")),
			want: "+ ip ipvs-proxy service-ips: 10.96.0.20\n" +
				"+ ip ipvs-proxy service-ports: 10.96.0.20 . tcp . 80\n" +
				"+ ip ipvs-proxy cluster-ports: 10.96.0.20 . tcp . 80\n",
		},
		{
			name: "add a port to an existing address",
			new:  flowIntent(withPort(model.KindClusterIP, "tcp 10.96.0.10:9153")),
			want: "+ ip ipvs-proxy service-ports: 10.96.0.10 . tcp . 9153\n" +
				"+ ip ipvs-proxy cluster-ports: 10.96.0.10 . tcp . 9153\n",
		},
		{
			name: "remove the hairpin endpoint",
			new:  flowIntent(func(n *model.Netfilter) { n.Hairpin = nil }),
			want: "- ip ipvs-proxy hairpin: 10.244.1.7 . tcp . 8080 . 10.244.1.7\n",
		},
		{
			name: "add a load balancer with source ranges and a node port",
			new: flowIntent(
				withPort(model.KindLoadBalancer, "udp 198.18.6.3:53", ranges("198.18.100.0/25", "198.18.100.128/25")),
				withPort(model.KindNodePort, "udp 198.18.0.10:30053"),
				withNodePort(model.UDP, 30053, false)),
			want: "+ ip ipvs-proxy service-ips: 198.18.6.3\n" +
				"+ ip ipvs-proxy service-ports: 198.18.6.3 . udp . 53\n" +
				"+ ip ipvs-proxy node-ports: udp . 30053\n" +
				"+ ip ipvs-proxy firewall-ports: 198.18.6.3 . udp . 53\n" +
				"+ ip ipvs-proxy firewall-allow: 198.18.6.3 . udp . 53 . 198.18.100.0/24\n" +
				"+ ip ipvs-proxy masq-ports: 198.18.0.10 . udp . 30053\n" +
				"+ ip ipvs-proxy masq-ports: 198.18.6.3 . udp . 53\n" +
				"+ ip6 ipvs-proxy node-ports: udp . 30053\n", // node ports are in both tables
		},
		{
			// The merged range changes: the old one goes, the larger one
			// comes (it overlaps the old one, hence deletions first).
			name: "widen source ranges",
			new: flowIntent(func(n *model.Netfilter) {
				setRanges(n, "198.18.6.1", "198.18.100.0/24", "198.18.101.0/24")
			}),
			want: "- ip ipvs-proxy firewall-allow: 198.18.6.1 . tcp . 443 . 198.18.100.0/24\n" +
				"+ ip ipvs-proxy firewall-allow: 198.18.6.1 . tcp . 443 . 198.18.100.0/23\n",
		},
		{
			name: "drop source ranges",
			new:  flowIntent(func(n *model.Netfilter) { setRanges(n, "fd00:6::1") }),
			want: "- ip6 ipvs-proxy firewall-ports: fd00:6::1 . tcp . 443\n" +
				"- ip6 ipvs-proxy firewall-allow: fd00:6::1 . tcp . 443 . fd00:aa::/64\n",
		},
		{
			name: "external traffic policy becomes Local",
			new:  flowIntent(func(n *model.Netfilter) { setLocal(n, "198.18.5.5") }),
			want: "- ip ipvs-proxy masq-ports: 198.18.5.5 . tcp . 80\n",
		},
		{
			// An endpoint change: the node's last local endpoint of a
			// Local service goes, its ports fall back to other nodes'.
			name: "a local port loses its last local endpoint",
			new: flowIntent(func(n *model.Netfilter) {
				markNoLocal(n, "tcp 198.18.5.6:80")
				markNoLocal(n, "tcp 198.18.0.10:30081")
			}),
			want: "+ ip ipvs-proxy no-local-endpoints: 198.18.0.10 . tcp . 30081\n" +
				"+ ip ipvs-proxy no-local-endpoints: 198.18.5.6 . tcp . 80\n",
		},
		{
			name: "a Local load balancer without local endpoint is added",
			new:  flowIntent(withPort(model.KindLoadBalancer, "tcp 198.18.6.4:443", local(), noLocal())),
			want: "+ ip ipvs-proxy service-ips: 198.18.6.4\n" +
				"+ ip ipvs-proxy service-ports: 198.18.6.4 . tcp . 443\n" +
				"+ ip ipvs-proxy no-local-endpoints: 198.18.6.4 . tcp . 443\n",
		},
		{
			name: "masquerade-all moves cluster ports",
			new:  flowIntent(masqueradeAll),
			want: "- ip ipvs-proxy cluster-ports: 10.96.0.10 . tcp . 53\n" +
				"- ip ipvs-proxy cluster-ports: 10.96.0.10 . udp . 53\n" +
				"- ip6 ipvs-proxy cluster-ports: fd00:96::10 . tcp . 53\n" +
				"+ ip ipvs-proxy masq-ports: 10.96.0.10 . tcp . 53\n" +
				"+ ip ipvs-proxy masq-ports: 10.96.0.10 . udp . 53\n" +
				"+ ip6 ipvs-proxy masq-ports: fd00:96::10 . tcp . 53\n",
		},
		{
			name:    "local CIDRs change (rbtree interval set)",
			new:     flowIntent(withLocalCIDRs("10.245.0.0/16")),
			replace: true,
		},
		{
			name: "the ip6 family disappears",
			new: flowIntent(func(n *model.Netfilter) {
				n.LocalCIDRs = n.LocalCIDRs[:1]
				n.Ports = slices.DeleteFunc(n.Ports, func(p model.ServicePort) bool { return p.Addr.Is6() })
			}),
			replace: true,
		},
		{name: "everything removed", new: makeIntent(), replace: true},
	}
	old := flowIntent()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldP, newP := Translate(old, DefaultTableName), Translate(tc.new, DefaultTableName)
			d, ok := DiffElements(oldP, newP)
			if ok == tc.replace {
				t.Fatalf("DiffElements ok = %v, want %v", ok, !tc.replace)
			}
			checkDiffMatches(t, old, tc.new)
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, d.String()); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
			if d.Empty() != (tc.want == "") {
				t.Errorf("Empty() = %v for diff %q", d.Empty(), d.String())
			}
			if got := patch(oldP, d).String(); got != newP.String() {
				t.Errorf("old patched with the diff differs from new:\n%s", lineDiff(newP.String(), got))
			}
		})
	}
}

// TestDiffElementsStructure changes the programs themselves: anything but
// elements needs a replace.
func TestDiffElementsStructure(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Program)
	}{
		{name: "table name", change: func(p *Program) { p.Tables[0].Name = "other" }},
		{name: "table family order", change: func(p *Program) { slices.Reverse(p.Tables) }},
		{name: "set flags", change: func(p *Program) { p.Tables[0].Sets[0].Interval = true }},
		{name: "set key", change: func(p *Program) { p.Tables[0].Sets[3].Fields = []Field{FieldProto} }},
		{name: "set removed", change: func(p *Program) { p.Tables[1].Sets = p.Tables[1].Sets[1:] }},
		{name: "rule changed", change: func(p *Program) {
			c := &p.Tables[0].Chains[3]
			c.Rules[1].Exprs = append(slices.Clone(c.Rules[1].Exprs[:len(c.Rules[1].Exprs)-1]), &expr.Verdict{Kind: expr.VerdictDrop})
		}},
		{name: "rule comment", change: func(p *Program) { p.Tables[1].Chains[0].Rules[0].Comment = "x" }},
		{name: "chain priority", change: func(p *Program) {
			h := *p.Tables[0].Chains[1].Hook
			h.Priority++
			p.Tables[0].Chains[1].Hook = &h
		}},
	}
	old := Translate(flowIntent(), DefaultTableName)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Translate(flowIntent(), DefaultTableName)
			tc.change(p)
			if _, ok := DiffElements(old, p); ok {
				t.Errorf("DiffElements accepted a structural change")
			}
			if _, ok := DiffElements(p, old); ok {
				t.Errorf("DiffElements accepted a structural change (reversed)")
			}
		})
	}
}

// TestDiffElementsOneServiceAmongMany checks the point of the diff: one
// service more among 10,000 changes only that service's elements.
func TestDiffElementsOneServiceAmongMany(t *testing.T) {
	base := manyServices(10000)
	more := manyServices(10001)
	d, ok := DiffElements(Translate(base, DefaultTableName), Translate(more, DefaultTableName))
	if !ok {
		t.Fatal("DiffElements refused adding a service")
	}
	// Cluster IP, external IP, load balancer: 3 addresses and ports; 3
	// masqueraded ports; 1 cluster port; 1 firewall port and range; 1 node
	// port; 1 hairpin endpoint.
	if del, add := d.Len(); del != 0 || add != 3+3+3+1+2+1+1 {
		t.Errorf("diff deletes %d and adds %d elements, want 0 and 14:\n%s", del, add, d)
	}
}

// TestDiffElementsPatchesRandomChanges checks on random intents that the
// diff, applied to the old program, gives the new one.
func TestDiffElementsPatchesRandomChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		a, b := randomIntent(rng), randomIntent(rng)
		oldP, newP := Translate(a, DefaultTableName), Translate(b, DefaultTableName)
		d, ok := DiffElements(oldP, newP)
		if !ok {
			t.Fatalf("case %d: DiffElements refused intents that differ in elements only", i)
		}
		if got := patch(oldP, d).String(); got != newP.String() {
			t.Fatalf("case %d: patched old differs from new:\n%s", i, lineDiff(newP.String(), got))
		}
		checkDiffMatches(t, a, b)
		// A few edits of a: most groups unchanged, some partly.
		c := mutate(rng, a)
		checkDiffMatches(t, a, c)
		checkDiffMatches(t, c, a)
		if back, _ := DiffElements(newP, oldP); patch(newP, back).String() != oldP.String() {
			t.Fatalf("case %d: the reverse diff does not restore old", i)
		}
	}
}

// randomIntent draws from a small space, so that two draws often share
// most of their elements and the families and local CIDRs stay the same.
func randomIntent(rng *rand.Rand) *model.Netfilter {
	kinds := []model.PortKind{model.KindClusterIP, model.KindExternalIP, model.KindLoadBalancer, model.KindNodePort}
	prefixes := []string{"198.18.100.0/24", "198.18.101.0/24", "198.18.100.128/25", "198.18.0.0/16"}
	return makeIntent(withLocalCIDRs("10.244.0.0/16"), func(n *model.Netfilter) {
		n.MasqueradeAll = rng.IntN(4) == 0
		for range 2 + rng.IntN(10) {
			p := model.ServicePort{
				VSKey: model.VSKey{Addr: netip.AddrFrom4([4]byte{198, 19, 0, byte(rng.IntN(6))}), Port: uint16(80 + rng.IntN(3)), Proto: model.TCP},
				Kind:  kinds[rng.IntN(len(kinds))], Local: rng.IntN(2) == 0,
			}
			p.NoLocalEndpoints = p.Local && p.Kind != model.KindClusterIP && rng.IntN(2) == 0
			p.Host = p.Kind != model.KindNodePort && rng.IntN(4) == 0
			for range rng.IntN(3) {
				p.SourceRanges = append(p.SourceRanges, netip.MustParsePrefix(prefixes[rng.IntN(len(prefixes))]))
			}
			n.Ports = append(n.Ports, p)
			n.NodePorts = append(n.NodePorts, model.NodePort{Proto: model.TCP, Port: uint16(30000 + rng.IntN(5))})
			n.Hairpin = append(n.Hairpin, model.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 244, 0, byte(rng.IntN(5))}), Port: 8080, Proto: model.TCP})
		}
	})
}

func setRanges(n *model.Netfilter, addr string, prefixes ...string) {
	for i := range n.Ports {
		if n.Ports[i].Addr == netip.MustParseAddr(addr) {
			n.Ports[i].SourceRanges = nil
			ranges(prefixes...)(&n.Ports[i])
		}
	}
}

// markNoLocal sets NoLocalEndpoints on the Local ports of a key.
func markNoLocal(n *model.Netfilter, key string) {
	k := vsKey(key)
	for i := range n.Ports {
		if n.Ports[i].VSKey == k && n.Ports[i].Local {
			n.Ports[i].NoLocalEndpoints = true
		}
	}
}

func setLocal(n *model.Netfilter, addr string) {
	for i := range n.Ports {
		if n.Ports[i].Addr == netip.MustParseAddr(addr) {
			n.Ports[i].Local = true
		}
	}
}

// patch applies the diff to a copy of the program: what the kernel holds
// after the diff's transaction, given that it held p.
func patch(p *Program, d *ElementDiff) *Program {
	out := &Program{Tables: make([]Table, len(p.Tables))}
	for i, t := range p.Tables {
		t.Sets = append([]Set(nil), t.Sets...)
		for j := range t.Sets {
			s := &t.Sets[j]
			for _, sd := range d.Sets {
				if sd.Family == t.Family && sd.Table == t.Name && sd.Set.Name == s.Name {
					s.Elements = patchElements(s.Elements, sd.Delete, sd.Add)
				}
			}
		}
		out.Tables[i] = t
	}
	return out
}

func patchElements(es, del, add []Element) []Element {
	var out []Element
	for _, e := range es {
		if !containsElement(del, e) {
			out = append(out, e)
		}
	}
	return canonicalElements(append(out, add...))
}

func containsElement(es []Element, e Element) bool {
	for _, x := range es {
		if bytes.Equal(x.Key, e.Key) && bytes.Equal(x.KeyEnd, e.KeyEnd) {
			return true
		}
	}
	return false
}
