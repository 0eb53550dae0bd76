package kubeproxy

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

// Call names an Interface method, for the Fake's counters and faults.
type Call string

// CallCleanupLeftovers is the Interface's one call, a write.
const CallCleanupLeftovers Call = "CleanupLeftovers"

// Fake is an in-memory Interface: the iptables tables (nft and legacy) and
// ipsets of a node, cleaned by the same planning as Kernel. Legacy tables
// are reported, never changed, as by Kernel. Its Injector counts calls and
// fails them on demand (no call has a subject); a failed CleanupLeftovers
// changes nothing. It is safe for concurrent use.
type Fake struct {
	fault.Injector[Call]
	mu     sync.Mutex
	tables map[tableKey]*fakeTable
	sets   map[string]bool
	// matches are rules matching a set: a set is busy while one exists.
	matches []setMatch
	// release is how many destroy attempts a set stays busy after the
	// last nf_tables rule matching it went (the kernel's deferred release).
	releasing map[string]int
	lag       int
	handles   uint64
}

type tableKey struct {
	backend Backend
	family  Family
	table   string
}

type fakeTable struct {
	chains map[string]bool // name -> built-in
	jumps  []jump
}

type setMatch struct {
	key   tableKey
	chain string
	set   string
}

// NewFake returns a Fake with no tables and no sets.
func NewFake() *Fake {
	return &Fake{tables: map[tableKey]*fakeTable{}, sets: map[string]bool{}, releasing: map[string]int{}}
}

// AddChain creates a chain (and its table); built-in names make built-in
// chains.
func (f *Fake) AddChain(b Backend, fam Family, tbl, chain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addChain(tableKey{b, fam, tbl}, chain)
}

func (f *Fake) addChain(k tableKey, chain string) *fakeTable {
	t := f.tables[k]
	if t == nil {
		t = &fakeTable{chains: map[string]bool{}}
		f.tables[k] = t
	}
	if _, ok := t.chains[chain]; !ok {
		t.chains[chain] = slices.Contains(builtinChains[:], chain)
	}
	return t
}

// AddJump appends a rule `-A from [spec] -j to` (creating both chains);
// spec is the rule's matches, e.g. `-m comment --comment "x"`, or "".
func (f *Fake) AddJump(b Backend, fam Family, tbl, from, to, spec string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addJump(tableKey{b, fam, tbl}, from, to, spec)
}

func (f *Fake) addJump(k tableKey, from, to, spec string) {
	f.addChain(k, to)
	t := f.addChain(k, from)
	pos := 1
	for _, j := range t.jumps {
		if j.chain == from {
			pos++
		}
	}
	f.handles++
	t.jumps = append(t.jumps, jump{chain: from, target: to, pos: pos, handle: f.handles,
		spec: strings.TrimSpace(spec + " -j " + to)})
}

// AddSet creates an ipset.
func (f *Fake) AddSet(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets[name] = true
}

// AddSetMatch adds a rule to chain (creating it) that matches set, which
// makes the set busy while the rule exists.
func (f *Fake) AddSetMatch(b Backend, fam Family, tbl, chain, set string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := tableKey{b, fam, tbl}
	f.addChain(k, chain)
	f.matches = append(f.matches, setMatch{key: k, chain: chain, set: set})
}

// SetReleaseLag makes a set stay busy for n destroy attempts after the
// last nf_tables rule matching it was deleted, as the kernel releases
// rules after the transaction.
func (f *Fake) SetReleaseLag(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lag = n
}

// SeedKubeProxy lays out what kube-proxy's IPVS mode leaves in one family:
// its chains with the jumps from the built-in chains and between them,
// and its sets, each matched by one of its chains.
func (f *Fake) SeedKubeProxy(b Backend, fam Family) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range kubeJumps {
		f.addJump(tableKey{b, fam, j.table}, j.from, j.to, fmt.Sprintf("-m comment --comment %q", j.comment))
	}
	nat, filter := tableKey{b, fam, "nat"}, tableKey{b, fam, "filter"}
	f.addJump(nat, "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "")
	f.addJump(nat, "KUBE-SERVICES", "KUBE-MARK-MASQ", "")
	f.addJump(nat, "KUBE-SERVICES", "KUBE-NODE-PORT", "")
	f.addJump(nat, "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ", "")
	f.addJump(nat, "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "")
	f.addJump(filter, "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "")
	for i, s := range kubeSets {
		if fam == IPv6 {
			s = ipv6SetName(s)
		}
		f.sets[s] = true
		chain := []kubeChain{{"nat", "KUBE-SERVICES"}, {"filter", "KUBE-IPVS-FILTER"}}[i%2]
		f.matches = append(f.matches, setMatch{key: tableKey{b, fam, chain.table}, chain: chain.chain, set: s})
	}
}

// CleanupLeftovers implements Interface.
func (f *Fake) CleanupLeftovers() (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fault.Hit(&f.Injector, CallCleanupLeftovers, fault.Write); err != nil {
		return Report{}, err
	}
	return cleanup(fakeNode{f}, func(time.Duration) {})
}

// Dump returns the fake's state, one sorted line per object: `nft ip nat
// chain KUBE-SERVICES`, `nft ip nat rule PREROUTING -m comment --comment
// "..." -j KUBE-SERVICES`, `nft ip nat match KUBE-SERVICES KUBE-CLUSTER-IP`
// (a rule matching a set), `ipset KUBE-CLUSTER-IP`.
func (f *Fake) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for k, t := range f.tables {
		p := fmt.Sprintf("%s %s %s", k.backend, k.family, k.table)
		for c, base := range t.chains {
			if !base {
				lines = append(lines, fmt.Sprintf("%s chain %s", p, c))
			}
		}
		for _, j := range t.jumps {
			lines = append(lines, fmt.Sprintf("%s rule %s %s", p, j.chain, j.spec))
		}
	}
	for _, m := range f.matches {
		lines = append(lines, fmt.Sprintf("%s %s %s match %s %s", m.key.backend, m.key.family, m.key.table, m.chain, m.set))
	}
	for _, s := range slices.Sorted(maps.Keys(f.sets)) {
		lines = append(lines, "ipset "+s)
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// fakeNode is the Fake seen by cleanup; f.mu is held.
type fakeNode struct{ f *Fake }

func (n fakeNode) listTables() ([]table, error) {
	var out []table
	for _, k := range slices.SortedFunc(maps.Keys(n.f.tables), compareKeys) {
		ft := n.f.tables[k]
		t := table{backend: k.backend, family: k.family, name: k.table, jumps: slices.Clone(ft.jumps)}
		for _, c := range slices.Sorted(maps.Keys(ft.chains)) {
			t.chains = append(t.chains, chainInfo{name: c, base: ft.chains[c]})
		}
		out = append(out, t)
	}
	return out, nil
}

func compareKeys(a, b tableKey) int {
	return cmp.Or(cmp.Compare(a.backend, b.backend), cmp.Compare(a.family, b.family), cmp.Compare(a.table, b.table))
}

func (n fakeNode) apply(t table, p tablePlan) error {
	f := n.f
	k := tableKey{t.backend, t.family, t.name}
	ft := f.tables[k]
	gone := func(c string) bool { return slices.Contains(p.chains, c) }
	ft.jumps = slices.DeleteFunc(ft.jumps, func(j jump) bool {
		return gone(j.chain) || slices.ContainsFunc(p.rules, func(r jump) bool { return r.handle == j.handle })
	})
	for _, c := range p.chains {
		delete(ft.chains, c)
	}
	f.matches = slices.DeleteFunc(f.matches, func(m setMatch) bool {
		if m.key != k || !gone(m.chain) {
			return false
		}
		f.releasing[m.set] = f.lag
		return true
	})
	return nil
}

func (n fakeNode) destroySet(name string) error {
	f := n.f
	if !f.sets[name] {
		return errSetMissing
	}
	if slices.ContainsFunc(f.matches, func(m setMatch) bool { return m.set == name }) {
		return errSetBusy
	}
	if f.releasing[name] > 0 {
		f.releasing[name]--
		return errSetBusy
	}
	delete(f.sets, name)
	return nil
}
