package kubeproxy

import (
	"cmp"
	"fmt"
	"slices"
)

// table is one iptables table as listed from the kernel: its chains and
// the rules that jump (or go) to a chain. Other rules do not matter here.
type table struct {
	backend Backend
	family  Family
	name    string
	chains  []chainInfo
	jumps   []jump
}

// chainInfo is one chain of a table.
type chainInfo struct {
	name string
	base bool // a built-in chain (an nf_tables base chain)
}

// jump is a rule whose verdict jumps or goes to a chain of the table.
type jump struct {
	chain  string // the chain holding the rule
	target string
	// handle is the nf_tables rule handle.
	handle uint64
	// pos is the rule's 1-based position in its chain (legacy).
	pos int
	// spec is the rule's iptables specification after the chain name
	// (`-m comment --comment "..." -j KUBE-SERVICES`) when it is known
	// exactly, else empty (legacy).
	spec string
}

// tablePlan is what goes from one table.
type tablePlan struct {
	// rules are the jumps from built-in chains into kube-proxy's chains.
	rules []jump
	// chains are kube-proxy's chains to flush and delete, in kubeChains
	// order.
	chains []string
	// kept are kube-proxy's chains that stay, and why.
	kept []Leftover
}

// planTable decides what goes from t: every jump from a built-in chain to
// one of kube-proxy's chains, then kube-proxy's chains, except a chain a
// foreign chain jumps to and, transitively, the chains a kept chain jumps
// to. A kept chain is left whole: deleting it would fail (EBUSY) and
// flushing it would change what the foreign rule does.
func planTable(t table) tablePlan {
	present, base := map[string]bool{}, map[string]bool{}
	for _, c := range t.chains {
		present[c.name], base[c.name] = true, c.base
	}
	ours := func(c string) bool { return present[c] && !base[c] && isKubeChain(t.name, c) }
	var p tablePlan
	kept := map[string]string{}
	for _, j := range t.jumps {
		switch {
		case !ours(j.target):
		case base[j.chain]:
			p.rules = append(p.rules, j)
		case !ours(j.chain) && kept[j.target] == "":
			kept[j.target] = fmt.Sprintf("chain %s jumps to it", j.chain)
		}
	}
	for grew := true; grew; {
		grew = false
		for _, j := range t.jumps {
			if kept[j.chain] != "" && ours(j.target) && kept[j.target] == "" {
				kept[j.target] = fmt.Sprintf("kept chain %s jumps to it", j.chain)
				grew = true
			}
		}
	}
	for _, c := range kubeChains {
		switch {
		case c.table != t.name || !ours(c.chain):
		case kept[c.chain] != "":
			p.kept = append(p.kept, Leftover{Object: t.object(KindChain, "", c.chain), Reason: kept[c.chain]})
		default:
			p.chains = append(p.chains, c.chain)
		}
	}
	return p
}

// object returns an object of the table.
func (t table) object(k Kind, chain, name string) Object {
	return Object{Kind: k, Backend: t.backend, Family: t.family, Table: t.name, Chain: chain, Name: name}
}

// removed is the report of an nf_tables table whose plan was carried out.
func (t table) removed(p tablePlan) Report {
	r := Report{Left: p.kept}
	for _, j := range p.rules {
		r.Removed = append(r.Removed, t.object(KindRule, j.chain, j.target))
	}
	for _, c := range p.chains {
		r.Removed = append(r.Removed, t.object(KindChain, "", c))
	}
	return r
}

// legacyReason says why legacy iptables objects are left.
const legacyReason = "iptables-legacy cannot be changed over netlink; run the reported commands"

// legacy is the report of a legacy table: everything the plan removes is
// left, with the iptables-legacy commands that remove it.
func (t table) legacy(p tablePlan) Report {
	r := Report{Left: p.kept}
	for _, j := range p.rules {
		r.Left = append(r.Left, Leftover{Object: t.object(KindRule, j.chain, j.target), Reason: legacyReason})
	}
	for _, c := range p.chains {
		r.Left = append(r.Left, Leftover{Object: t.object(KindChain, "", c), Reason: legacyReason})
	}
	r.Commands = t.commands(p)
	return r
}

// commands returns the iptables-legacy commands that carry out the plan:
// rules deleted by position (highest first, so the others keep theirs)
// when their specification is not known exactly, then by specification,
// then every chain flushed, then every chain deleted.
func (t table) commands(p tablePlan) []string {
	tool := "iptables-legacy"
	if t.family == IPv6 {
		tool = "ip6tables-legacy"
	}
	var cmds []string
	numbered := slices.Clone(p.rules)
	slices.SortStableFunc(numbered, func(a, b jump) int {
		return cmp.Or(cmp.Compare(a.chain, b.chain), cmp.Compare(b.pos, a.pos))
	})
	for _, j := range numbered {
		if j.spec == "" {
			cmds = append(cmds, fmt.Sprintf("%s -t %s -D %s %d", tool, t.name, j.chain, j.pos))
		}
	}
	for _, j := range p.rules {
		if j.spec != "" {
			cmds = append(cmds, fmt.Sprintf("%s -t %s -D %s %s", tool, t.name, j.chain, j.spec))
		}
	}
	for _, c := range p.chains {
		cmds = append(cmds, fmt.Sprintf("%s -t %s -F %s", tool, t.name, c))
	}
	for _, c := range p.chains {
		cmds = append(cmds, fmt.Sprintf("%s -t %s -X %s", tool, t.name, c))
	}
	return cmds
}
