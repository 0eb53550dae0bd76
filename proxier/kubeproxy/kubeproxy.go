package kubeproxy

import (
	"fmt"
	"slices"
	"strings"
)

// Interface removes kube-proxy's IPVS-mode leftovers. Kernel is the real
// implementation, Fake the in-memory one.
type Interface interface {
	// CleanupLeftovers removes kube-proxy's iptables-nft jump rules and
	// chains (both families) and then its ipsets, and reports what it
	// removed and what it left: legacy iptables, chains a foreign chain
	// jumps to, sets still in use. What is left is not an error. The error
	// (several joined) is for kernel calls that failed; the report then
	// still lists what was done before and besides.
	CleanupLeftovers() (Report, error)
}

var (
	_ Interface = (*Kernel)(nil)
	_ Interface = (*Fake)(nil)
)

// Backend is the iptables implementation holding a chain or rule.
type Backend string

const (
	// NFT is iptables-nft: nf_tables tables named like iptables' tables.
	NFT Backend = "nft"
	// Legacy is iptables-legacy: the ip_tables and ip6_tables modules.
	Legacy Backend = "legacy"
)

// Family is an iptables address family, named as nft names it.
type Family string

const (
	// IPv4 is iptables' family (nft's "ip").
	IPv4 Family = "ip"
	// IPv6 is ip6tables' family.
	IPv6 Family = "ip6"
)

// families are the families cleaned, in order.
var families = []Family{IPv4, IPv6}

// Kind is the kind of a leftover object.
type Kind string

// Kinds of objects.
const (
	KindRule  Kind = "rule"
	KindChain Kind = "chain"
	KindSet   Kind = "ipset"
)

// Object is one kernel object of kube-proxy's.
type Object struct {
	Kind Kind
	// Backend, Family and Table say where a chain or rule is; empty for
	// ipsets.
	Backend Backend
	Family  Family
	Table   string
	// Chain is the chain holding a rule.
	Chain string
	// Name is a chain's or set's name, or the chain a rule jumps to.
	Name string
}

// String returns the object as a report line shows it, e.g. `ip nat chain
// KUBE-SERVICES`, `ip nat rule PREROUTING -j KUBE-SERVICES`, `legacy ip6
// filter chain KUBE-FORWARD` or `ipset KUBE-CLUSTER-IP`.
func (o Object) String() string {
	var b strings.Builder
	if o.Backend == Legacy {
		b.WriteString("legacy ")
	}
	switch o.Kind {
	case KindSet:
		fmt.Fprintf(&b, "ipset %s", o.Name)
	case KindRule:
		fmt.Fprintf(&b, "%s %s rule %s -j %s", o.Family, o.Table, o.Chain, o.Name)
	default:
		fmt.Fprintf(&b, "%s %s %s %s", o.Family, o.Table, o.Kind, o.Name)
	}
	return b.String()
}

// Leftover is an object left in place, and why.
type Leftover struct {
	Object
	Reason string
}

// Report says what CleanupLeftovers did.
type Report struct {
	// Removed lists the objects removed, in the order they were.
	Removed []Object
	// Left lists kube-proxy's objects still there.
	Left []Leftover
	// Commands are shell commands that remove what is left in legacy
	// iptables and the sets it holds, in order, for an operator to run
	// after stopping kube-proxy.
	Commands []string
}

// Count returns how many removed objects are of kind k.
func (r Report) Count(k Kind) int {
	n := 0
	for _, o := range r.Removed {
		if o.Kind == k {
			n++
		}
	}
	return n
}

// String returns the report, one line per object ("removed ...", "left
// ...: reason") and per command ("run: ..."), sorted within each group.
func (r Report) String() string {
	var lines []string
	removed := make([]string, 0, len(r.Removed))
	for _, o := range r.Removed {
		removed = append(removed, "removed "+o.String())
	}
	slices.Sort(removed)
	left := make([]string, 0, len(r.Left))
	for _, l := range r.Left {
		left = append(left, fmt.Sprintf("left %s: %s", l.Object, l.Reason))
	}
	slices.Sort(left)
	lines = append(append(lines, removed...), left...)
	for _, c := range r.Commands {
		lines = append(lines, "run: "+c)
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// merge appends o's findings to r.
func (r *Report) merge(o Report) {
	r.Removed = append(r.Removed, o.Removed...)
	r.Left = append(r.Left, o.Left...)
	r.Commands = append(r.Commands, o.Commands...)
}
