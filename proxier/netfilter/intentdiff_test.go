package netfilter

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestDiffSharedGroups covers the entries Diff must translate together:
// ports sharing an address (one service-ips element), services claiming
// one load-balancer port (merged ranges), node ports and unsorted intents.
func TestDiffSharedGroups(t *testing.T) {
	shared := makeIntent(
		withLocalCIDRs("10.244.0.0/16"),
		withPort(model.KindNodePort, "tcp 198.18.0.10:1"), // sorts first; puts nothing in service-ips
		withPort(model.KindExternalIP, "tcp 198.18.0.10:53"),
		withPort(model.KindExternalIP, "udp 198.18.0.10:53"),
		withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.100.0/24")),
		withPort(model.KindLoadBalancer, "tcp 198.18.6.1:443", ranges("198.18.101.0/24"), local()),
		withNodePort(model.TCP, 30080, false),
		withNodePort(model.TCP, 30080, true),
	)
	tests := []struct {
		name string
		new  *model.Netfilter
		want string
	}{{
		name: "remove one port of a shared address",
		new:  drop(shared, "udp 198.18.0.10:53"),
		want: "- ip ipvs-proxy service-ports: 198.18.0.10 . udp . 53\n" +
			"- ip ipvs-proxy masq-ports: 198.18.0.10 . udp . 53\n",
	}, {
		name: "remove the address's last service port",
		new:  drop(drop(shared, "udp 198.18.0.10:53"), "tcp 198.18.0.10:53"),
		want: "- ip ipvs-proxy service-ips: 198.18.0.10\n" +
			"- ip ipvs-proxy service-ports: 198.18.0.10 . tcp . 53\n" +
			"- ip ipvs-proxy service-ports: 198.18.0.10 . udp . 53\n" +
			"- ip ipvs-proxy masq-ports: 198.18.0.10 . tcp . 53\n" +
			"- ip ipvs-proxy masq-ports: 198.18.0.10 . udp . 53\n",
	}, {
		name: "one of two claims of a load-balancer port goes",
		new: makeIntent(func(n *model.Netfilter) {
			*n = *shared
			n.Ports = slices.DeleteFunc(slices.Clone(n.Ports), func(p model.ServicePort) bool { return p.Local })
		}),
		want: "- ip ipvs-proxy firewall-allow: 198.18.6.1 . tcp . 443 . 198.18.100.0/23\n" +
			"+ ip ipvs-proxy firewall-allow: 198.18.6.1 . tcp . 443 . 198.18.100.0/24\n",
	}, {
		// The node gained 198.18.0.10: it leaves service-ips, its ports
		// stay served and masqueraded.
		name: "an address becomes the host's",
		new:  setHost(shared, "198.18.0.10", true),
		want: "- ip ipvs-proxy service-ips: 198.18.0.10\n",
	}, {
		// A load-balancer address becomes the host's: its source ranges
		// are no longer enforced.
		name: "a firewalled address becomes the host's",
		new:  setHost(shared, "198.18.6.1", true),
		want: "- ip ipvs-proxy service-ips: 198.18.6.1\n" +
			"- ip ipvs-proxy firewall-ports: 198.18.6.1 . tcp . 443\n" +
			"- ip ipvs-proxy firewall-allow: 198.18.6.1 . tcp . 443 . 198.18.100.0/23\n",
	}, {
		// Fragments built at different times may disagree (the engine
		// rebuilds them all when host addresses change): while one port of
		// the address is not Host, the address stays in service-ips.
		name: "one of an address's ports becomes Host",
		new: makeIntent(func(n *model.Netfilter) {
			*n = *shared
			n.Ports = slices.Clone(n.Ports)
			n.Ports[1].Host = true // tcp 198.18.0.10:53; udp stays
		}),
	}, {
		// The port's other claim (not Local) is in the same group: the
		// whole group is translated, and the element follows the flag.
		name: "a Local claim of a shared port loses its local endpoints",
		new: makeIntent(func(n *model.Netfilter) {
			*n = *shared
			n.Ports = slices.Clone(n.Ports)
			markNoLocal(n, "tcp 198.18.6.1:443")
		}),
		want: "+ ip ipvs-proxy no-local-endpoints: 198.18.6.1 . tcp . 443\n",
	}, {
		name: "one of two node port entries goes",
		new:  makeIntent(func(n *model.Netfilter) { *n = *shared; n.NodePorts = n.NodePorts[:1] }),
	}, {
		// A port of 198.18.0.10 after those of 198.18.6.1: walked
		// unsorted, it would look like the address's only port.
		name: "unsorted",
		new: &model.Netfilter{
			LocalCIDRs: shared.LocalCIDRs,
			Ports:      append(slices.Clone(shared.Ports), makeIntent(withPort(model.KindExternalIP, "tcp 198.18.0.10:54")).Ports...),
			NodePorts:  []model.NodePort{shared.NodePorts[1], shared.NodePorts[0]},
		},
		want: "+ ip ipvs-proxy service-ports: 198.18.0.10 . tcp . 54\n" +
			"+ ip ipvs-proxy masq-ports: 198.18.0.10 . tcp . 54\n",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDiffMatches(t, shared, tc.new)
			checkDiffMatches(t, tc.new, shared)
			d, ok := Diff(shared, tc.new, nil, DefaultTableName)
			if !ok {
				t.Fatal("Diff refused")
			}
			if diff := cmp.Diff(tc.want, d.String()); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffNoLocalWithoutLocalCIDRs: without local detection in a family,
// a port losing its local endpoints changes no element (pods could not be
// told from outside clients, so nothing is dropped).
func TestDiffNoLocalWithoutLocalCIDRs(t *testing.T) {
	old := makeIntent(withLocalCIDRs("fd00:10:244::/48"),
		withPort(model.KindNodePort, "tcp 198.18.0.10:30080", local()),
		withPort(model.KindNodePort, "tcp [fd00:18::10]:30080", local()))
	new := makeIntent(withLocalCIDRs("fd00:10:244::/48"),
		withPort(model.KindNodePort, "tcp 198.18.0.10:30080", local(), noLocal()),
		withPort(model.KindNodePort, "tcp [fd00:18::10]:30080", local(), noLocal()))
	checkDiffMatches(t, old, new)
	d, ok := Diff(old, new, nil, DefaultTableName)
	if !ok {
		t.Fatal("Diff refused")
	}
	if want := "+ ip6 ipvs-proxy no-local-endpoints: fd00:18::10 . tcp . 30080\n"; d.String() != want {
		t.Errorf("diff %q, want only the IPv6 port %q", d.String(), want)
	}
}

// setHost returns a copy of n whose ports on addr have Host set to h.
func setHost(n *model.Netfilter, addr string, h bool) *model.Netfilter {
	return makeIntent(func(c *model.Netfilter) {
		*c = *n
		c.Ports = slices.Clone(n.Ports)
		for i := range c.Ports {
			if c.Ports[i].Addr.String() == addr && c.Ports[i].Kind != model.KindNodePort {
				c.Ports[i].Host = h
			}
		}
	})
}

// drop returns a copy of n without the ports of the key.
func drop(n *model.Netfilter, key string) *model.Netfilter {
	k := vsKey(key)
	return makeIntent(func(c *model.Netfilter) {
		*c = *n
		c.Ports = slices.DeleteFunc(slices.Clone(n.Ports), func(p model.ServicePort) bool { return p.VSKey == k })
	})
}

// checkDiffMatches checks that Diff, which translates only the groups that
// changed, finds exactly the diff of the two whole translations.
func checkDiffMatches(t *testing.T, old, new *model.Netfilter) {
	t.Helper()
	want, wantOK := DiffElements(Translate(old, DefaultTableName), Translate(new, DefaultTableName))
	got, ok := Diff(old, new, nil, DefaultTableName)
	if ok != wantOK {
		t.Fatalf("Diff ok = %v, DiffElements of the translations %v\nold:\n%s\nnew:\n%s", ok, wantOK, lines(old), lines(new))
	}
	if ok && got.String() != want.String() {
		t.Fatalf("Diff differs from the diff of the translations (-want +got):\n%s\nold:\n%s\nnew:\n%s",
			cmp.Diff(want.String(), got.String()), lines(old), lines(new))
	}
	// Told which groups changed (exactly those, or every group), it finds
	// the same diff from those groups alone.
	o, n := sorted(old), sorted(new)
	for name, g := range map[string]*model.NetfilterGroups{"changed": changedGroupsOf(o, n), "all": allGroupsOf(o, n)} {
		if got, gotOK := Diff(o, n, g, DefaultTableName); gotOK != ok || ok && got.String() != want.String() {
			t.Fatalf("Diff told the %s groups %+v: ok %v, diff\n%s\nwant ok %v, diff\n%s", name, g, gotOK, got, ok, want)
		}
	}
}

// changedGroupsOf returns the groups whose entries differ between two
// sorted intents, found by comparing each group's entries.
func changedGroupsOf(old, new *model.Netfilter) *model.NetfilterGroups {
	g := &model.NetfilterGroups{}
	all := allGroupsOf(old, new)
	for _, a := range all.Addrs {
		one := &model.NetfilterGroups{Addrs: []netip.Addr{a}}
		if o, n := old.Groups(one), new.Groups(one); !o.Equal(&n) {
			g.Addrs = append(g.Addrs, a)
		}
	}
	for _, np := range all.NodePorts {
		one := &model.NetfilterGroups{NodePorts: []model.NodePort{np}}
		if o, n := old.Groups(one), new.Groups(one); !o.Equal(&n) {
			g.NodePorts = append(g.NodePorts, np)
		}
	}
	for _, e := range all.Hairpin {
		if slices.Contains(old.Hairpin, e) != slices.Contains(new.Hairpin, e) {
			g.Hairpin = append(g.Hairpin, e)
		}
	}
	return g
}

// allGroupsOf returns every group of two intents.
func allGroupsOf(old, new *model.Netfilter) *model.NetfilterGroups {
	g := &model.NetfilterGroups{}
	for _, n := range []*model.Netfilter{old, new} {
		for _, p := range n.Ports {
			g.Addrs = append(g.Addrs, p.Addr)
		}
		for _, np := range n.NodePorts {
			g.NodePorts = append(g.NodePorts, model.NodePort{Proto: np.Proto, Port: np.Port})
		}
		g.Hairpin = append(g.Hairpin, n.Hairpin...)
	}
	g.Sort()
	return g
}

func lines(n *model.Netfilter) string {
	c := *n
	return strings.Join(c.Lines(), "\n")
}

// mutate returns a copy of n with a few entries added, removed or changed.
func mutate(rng *rand.Rand, n *model.Netfilter) *model.Netfilter {
	m := makeIntent()
	*m = *n
	m.Ports = slices.Clone(n.Ports)
	m.NodePorts = slices.Clone(n.NodePorts)
	m.Hairpin = slices.Clone(n.Hairpin)
	extra := randomIntent(rng)
	for range 1 + rng.IntN(3) {
		if len(m.Ports) == 0 {
			m.Ports = append(m.Ports, extra.Ports...)
		}
		switch i := rng.IntN(len(m.Ports)); rng.IntN(6) {
		case 0:
			m.Ports = slices.Delete(m.Ports, i, i+1)
		case 1:
			m.Ports = append(m.Ports, extra.Ports[0])
		case 2:
			switch rng.IntN(3) {
			case 0:
				m.Ports[i].Local = !m.Ports[i].Local
			case 1:
				m.Ports[i].Host = !m.Ports[i].Host && m.Ports[i].Kind != model.KindNodePort
			default: // local endpoints come or go
				m.Ports[i].NoLocalEndpoints = !m.Ports[i].NoLocalEndpoints && m.Ports[i].Local
			}
		case 3:
			m.Ports[i].SourceRanges = extra.Ports[0].SourceRanges
		case 4:
			if len(m.Hairpin) > 0 {
				m.Hairpin = m.Hairpin[1:]
			}
			m.Hairpin = append(m.Hairpin, extra.Hairpin...)
		case 5:
			if len(m.NodePorts) > 0 {
				m.NodePorts = m.NodePorts[1:]
			}
			m.NodePorts = append(m.NodePorts, extra.NodePorts[0])
		}
	}
	m.Sort()
	return m
}
