//go:build vmtest

package netfilter_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// change returns a sorted copy of the intent changed by the mutators.
func change(n *model.Netfilter, mutators ...func(*model.Netfilter)) *model.Netfilter {
	c := &model.Netfilter{
		MasqueradeAll: n.MasqueradeAll,
		LocalCIDRs:    slices.Clone(n.LocalCIDRs),
		Ports:         slices.Clone(n.Ports),
		NodePorts:     slices.Clone(n.NodePorts),
		Hairpin:       slices.Clone(n.Hairpin),
	}
	for i := range c.Ports {
		c.Ports[i].SourceRanges = slices.Clone(c.Ports[i].SourceRanges)
	}
	for _, m := range mutators {
		m(c)
	}
	c.Sort()
	return c
}

func addPort(p model.ServicePort) func(*model.Netfilter) {
	return func(n *model.Netfilter) { n.Ports = append(n.Ports, p) }
}

// onPort changes the ports at addr.
func onPort(addr string, fn func(*model.ServicePort)) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		for i := range n.Ports {
			if n.Ports[i].Addr == netip.MustParseAddr(addr) {
				fn(&n.Ports[i])
			}
		}
	}
}

// noLocalOn marks the Local ports at the addresses as served by other
// nodes' endpoints (NoLocalEndpoints).
func noLocalOn(addrs ...string) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		for _, a := range addrs {
			onPort(a, func(p *model.ServicePort) { p.NoLocalEndpoints = p.Local })(n)
		}
	}
}

func dropPorts(addr string) func(*model.Netfilter) {
	return func(n *model.Netfilter) {
		n.Ports = slices.DeleteFunc(n.Ports, func(p model.ServicePort) bool { return p.Addr == netip.MustParseAddr(addr) })
	}
}

func dropFamily6(n *model.Netfilter) {
	n.Ports = slices.DeleteFunc(n.Ports, func(p model.ServicePort) bool { return p.Addr.Is6() })
	n.LocalCIDRs = slices.DeleteFunc(n.LocalCIDRs, func(p netip.Prefix) bool { return p.Addr().Is6() })
	n.Hairpin = slices.DeleteFunc(n.Hairpin, func(e model.Endpoint) bool { return e.Addr.Is6() })
}

func hairpin(s string) model.Endpoint {
	p := sp(model.KindClusterIP, s)
	return model.Endpoint{Addr: p.Addr, Port: p.Port, Proto: p.Proto}
}

// TestUpdateMatchesApply checks, for changes of every kind, that Update
// from A to B leaves exactly the tables Apply(B) makes in a namespace of
// its own (element diffs and the fallbacks to a full replace alike).
func TestUpdateMatchesApply(t *testing.T) {
	a := dualStack()
	ipv4Only := change(a, dropFamily6)
	tests := []struct {
		name     string
		from, to *model.Netfilter
	}{
		{"identical", a, a},
		{"add a cluster IP", a, change(a, addPort(sp(model.KindClusterIP, "tcp 198.19.0.11:80")))},
		{"add a port to an address", a, change(a, addPort(sp(model.KindClusterIP, "tcp 198.19.0.10:8080")))},
		{"remove a service port", a, change(a, dropPorts("198.19.1.1"))},
		{"remove a service's only IPv6 port", a, change(a, dropPorts("fd00:19::10"))},
		{"add a node port", a, change(a, addPort(sp(model.KindNodePort, "tcp 198.18.1.1:30081")),
			func(n *model.Netfilter) {
				n.NodePorts = append(n.NodePorts, model.NodePort{Proto: model.TCP, Port: 30081})
			})},
		{"remove a node port", a, change(a, dropPorts("198.18.1.1"), func(n *model.Netfilter) { n.NodePorts = n.NodePorts[1:] })},
		{"add a hairpin endpoint", a, change(a, func(n *model.Netfilter) { n.Hairpin = append(n.Hairpin, hairpin("tcp 198.18.128.6:8080")) })},
		{"remove a hairpin endpoint", a, change(a, func(n *model.Netfilter) { n.Hairpin = n.Hairpin[1:] })},
		{"widen source ranges (overlapping replacement)", a,
			change(a, onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = append(p.SourceRanges, pfx("198.19.0.0/16")) }))},
		{"narrow source ranges", a,
			change(a, onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = []netip.Prefix{pfx("198.18.1.0/24")} }))},
		{"split source ranges", a,
			change(a, onPort("fd00:19:2::1", func(p *model.ServicePort) {
				p.SourceRanges = []netip.Prefix{pfx("fd00:18:1::/64"), pfx("fd00:18:3::/64")}
			}))},
		{"drop source ranges", a, change(a, onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = nil }))},
		{"add source ranges", change(a, onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = nil })), a},
		{"external traffic policy Local", a, change(a, onPort("198.19.1.1", local))},
		{"Local ports lose their local endpoints", a, change(a, noLocalOn("198.19.1.2", "fd00:19:2::1", "fd00:18:1::1"))},
		{"Local ports get local endpoints back", change(a, noLocalOn("198.19.1.2", "fd00:19:2::1", "fd00:18:1::1")), a},
		{"masquerade-all", a, change(a, func(n *model.Netfilter) { n.MasqueradeAll = true })},
		{"local CIDRs change (replace)", a, change(a, func(n *model.Netfilter) { n.LocalCIDRs[0] = pfx("198.18.64.0/18") })},
		{"IPv6 appears (replace)", ipv4Only, a},
		{"IPv6 disappears (replace)", a, ipv4Only},
		{"everything goes (replace)", a, &model.Netfilter{}},
		{"from nothing (replace)", &model.Netfilter{}, a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newKernel(t)
			if err := k.Apply(tc.from); err != nil {
				t.Fatalf("Apply(from): %v", err)
			}
			if err := k.Update(tc.from, tc.to, nil); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if err := k.Verify(tc.to); err != nil {
				t.Errorf("Verify(to) after Update: %v", err)
			}
			ref, _ := newKernel(t)
			if err := ref.Apply(tc.to); err != nil {
				t.Fatalf("Apply(to) in the reference namespace: %v", err)
			}
			if diff := cmp.Diff(read(t, ref).String(), read(t, k).String()); diff != "" {
				t.Errorf("tables after Update differ from Apply's (-apply +update):\n%s", diff)
			}
		})
	}
}

// TestUpdateSequence walks one namespace through random intents with
// Update only, verifying each step: elements deleted and re-added across
// transactions, and overlapping source ranges replaced over and over.
func TestUpdateSequence(t *testing.T) {
	k, _ := newKernel(t)
	rng := rand.New(rand.NewPCG(7, 11))
	prev := &model.Netfilter{}
	for i := range 60 {
		next := randomIntent(rng)
		if err := k.Update(prev, next, nil); err != nil {
			t.Fatalf("step %d: Update: %v", i, err)
		}
		if err := k.Verify(next); err != nil {
			t.Fatalf("step %d: Verify after Update: %v", i, err)
		}
		prev = next
	}
}

// randomIntent draws from a small dual-stack space, so that consecutive
// intents share most elements and differ in a few.
func randomIntent(rng *rand.Rand) *model.Netfilter {
	kinds := []model.PortKind{model.KindClusterIP, model.KindExternalIP, model.KindLoadBalancer, model.KindNodePort}
	prefixes := []string{"198.18.1.0/24", "198.18.2.0/24", "198.18.1.128/25", "198.18.0.0/16", "fd00:18:1::/64", "fd00:18::/48"}
	n := &model.Netfilter{LocalCIDRs: []netip.Prefix{pfx("198.18.128.0/17"), pfx("fd00:18:80::/48")}}
	n.MasqueradeAll = rng.IntN(5) == 0
	for range 4 + rng.IntN(12) {
		addr := netip.AddrFrom4([4]byte{198, 19, 0, byte(rng.IntN(6))})
		if rng.IntN(3) == 0 {
			addr = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x19, 15: byte(rng.IntN(4))})
		}
		p := model.ServicePort{
			VSKey: model.VSKey{Addr: addr, Port: uint16(80 + rng.IntN(3)), Proto: model.TCP},
			Kind:  kinds[rng.IntN(len(kinds))], Local: rng.IntN(2) == 0,
		}
		p.NoLocalEndpoints = p.Local && p.Kind != model.KindClusterIP && rng.IntN(2) == 0
		for range rng.IntN(3) {
			p.SourceRanges = append(p.SourceRanges, pfx(prefixes[rng.IntN(len(prefixes))]))
		}
		n.Ports = append(n.Ports, p)
		n.NodePorts = append(n.NodePorts, model.NodePort{Proto: model.TCP, Port: uint16(30000 + rng.IntN(5))})
		n.Hairpin = append(n.Hairpin, model.Endpoint{Addr: netip.AddrFrom4([4]byte{198, 18, 128, byte(rng.IntN(5))}), Port: 8080, Proto: model.TCP})
	}
	n.Sort()
	return n
}

// TestRefusedUpdateChangesNothing gives Update an old intent the kernel
// does not hold, so that the kernel refuses one message in the middle of
// the batch, after deletions it had accepted, and checks the tables are
// still exactly as before.
func TestRefusedUpdateChangesNothing(t *testing.T) {
	held := dualStack()
	tests := []struct {
		name     string
		old, new *model.Netfilter
	}{{
		// The batch deletes 198.19.1.1's elements (accepted), then a
		// hairpin endpoint the tables lack (refused), then would add
		// 198.19.0.77.
		name: "deleting a missing element",
		old:  change(held, func(n *model.Netfilter) { n.Hairpin = append(n.Hairpin, hairpin("tcp 198.18.128.99:8080")) }),
		new:  change(held, dropPorts("198.19.1.1"), addPort(sp(model.KindClusterIP, "tcp 198.19.0.77:80"))),
	}, {
		// The caller believes the first hairpin endpoint is not there
		// yet: its addition is exclusive (refused), after the deletion
		// of 198.19.1.1's elements.
		name: "adding an element already there",
		old:  change(held, func(n *model.Netfilter) { n.Hairpin = n.Hairpin[1:] }),
		new:  change(held, dropPorts("198.19.1.1")),
	}, {
		// The caller believes 198.19.2.1 has no source ranges; the new
		// range overlaps the one the tables hold and starts where it
		// does (refused; Linux 6.1 accepts it without NLM_F_EXCL and
		// keeps the old range), after the deletion of 198.19.1.1's
		// elements.
		name: "adding an overlapping range",
		old:  change(held, onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = nil })),
		new: change(held, dropPorts("198.19.1.1"),
			onPort("198.19.2.1", func(p *model.ServicePort) { p.SourceRanges = []netip.Prefix{pfx("198.18.0.0/15")} })),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newKernel(t)
			if err := k.Apply(held); err != nil {
				t.Fatal(err)
			}
			before := read(t, k).String()
			err := k.Update(tc.old, tc.new, nil)
			if err == nil {
				t.Fatal("Update succeeded, want the kernel to refuse the batch")
			}
			t.Logf("Kernel refused the batch as expected: %v", err)
			if diff := cmp.Diff(before, read(t, k).String()); diff != "" {
				t.Errorf("a refused Update changed the tables (-before +after):\n%s", diff)
			}
			if err := k.Verify(held); err != nil {
				t.Errorf("Verify(held) after the refused batch: %v", err)
			}
			if err := k.Apply(tc.new); err != nil || k.Verify(tc.new) != nil {
				t.Errorf("Apply(new) after the refused Update: %v", err)
			}
		})
	}
}

// TestUpdateLarge measures Update against Apply at 10,000 services (and
// NETFILTER_LARGE more): adding one service and removing it again, removing
// one hairpin endpoint and adding it back, and changing one port's source
// ranges (a range deleted and an overlapping one added), each checked with
// Verify once and repeated; the median and the slowest of each are logged.
func TestUpdateLarge(t *testing.T) {
	k, _ := newKernel(t)
	sizes := []int{10000}
	if n, err := strconv.Atoi(os.Getenv("NETFILTER_LARGE")); err == nil {
		sizes = append(sizes, n)
	}
	const rounds = 5
	for _, services := range sizes {
		base := manyServices(services)
		start := time.Now()
		if err := k.Apply(base); err != nil {
			t.Fatalf("Apply(%d services): %v", services, err)
		}
		applied := time.Since(start)
		more := change(base, addPort(model.ServicePort{VSKey: key(netip.MustParseAddr("198.19.255.254"), 80), Kind: model.KindClusterIP}),
			addPort(model.ServicePort{VSKey: key(netip.MustParseAddr("198.19.255.254"), 443), Kind: model.KindLoadBalancer,
				SourceRanges: []netip.Prefix{pfx("198.18.0.0/24")}}),
			func(n *model.Netfilter) { n.Hairpin = append(n.Hairpin, hairpin("tcp 198.18.255.254:8080")) })
		noHairpin := change(base, func(n *model.Netfilter) { n.Hairpin = n.Hairpin[1:] })
		wider := change(base, onPort("198.19.0.0", func(p *model.ServicePort) { // service 0
			if p.Kind == model.KindLoadBalancer {
				p.SourceRanges = append(p.SourceRanges, pfx("198.18.1.0/24"))
			}
		}))
		steps := []struct {
			name     string
			from, to *model.Netfilter
		}{
			{"add one service", base, more}, {"remove it", more, base},
			{"remove a hairpin endpoint", base, noHairpin}, {"add it back", noHairpin, base},
			{"widen a port's source ranges", base, wider}, {"narrow them back", wider, base},
		}
		times := make([][]time.Duration, len(steps))
		for round := range rounds {
			for i, s := range steps {
				start := time.Now()
				if err := k.Update(s.from, s.to, nil); err != nil {
					t.Fatalf("services=%d: Update (%s): %v", services, s.name, err)
				}
				times[i] = append(times[i], time.Since(start))
				// Reading 100,000 elements back takes seconds in the VM:
				// check each step once (TestUpdateMatchesApply checks
				// the rest).
				if round > 0 {
					continue
				}
				if err := k.Verify(s.to); err != nil {
					t.Fatalf("services=%d: Verify after Update (%s): %v", services, s.name, err)
				}
			}
		}
		for i, s := range steps {
			d, _ := netfilter.Diff(s.from, s.to, nil, netfilter.DefaultTableName)
			deleted, added := d.Len()
			slices.Sort(times[i])
			t.Logf("services=%d: Update %s (%d deleted, %d added elements): median %s, slowest %s of %d",
				services, s.name, deleted, added, times[i][rounds/2].Round(100*time.Microsecond), times[i][rounds-1].Round(100*time.Microsecond), rounds)
		}
		start = time.Now()
		if err := k.Apply(more); err != nil {
			t.Fatal(err)
		}
		t.Logf("services=%d: Apply of everything (%d elements): %s the first time, %s again with one service more",
			services, elements(more), applied.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := k.Update(more, more, nil); err != nil {
			t.Fatal(err)
		}
		t.Logf("services=%d: Update with no change (no batch): %s", services, time.Since(start).Round(100*time.Microsecond))
	}
}

func elements(n *model.Netfilter) int {
	total := 0
	for _, c := range netfilter.Translate(n, netfilter.DefaultTableName).ElementCount() {
		total += c
	}
	return total
}

func read(t *testing.T, k *netfilter.Kernel) *netfilter.Program {
	t.Helper()
	p, err := k.Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return p
}
