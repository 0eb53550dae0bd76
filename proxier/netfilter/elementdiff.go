package netfilter

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
)

// ElementDiff is the set elements to delete and to add to turn one program
// into another whose tables, set definitions, chains and rules are the
// same: what Update sends instead of re-creating the tables.
type ElementDiff struct {
	// Sets lists the sets that change, in program order.
	Sets []SetDiff
}

// SetDiff is the change of one set.
type SetDiff struct {
	Family nftables.TableFamily
	Table  string
	// Set is the set's definition; its Elements are unused.
	Set         Set
	Delete, Add []Element
}

// Empty reports whether the diff changes nothing.
func (d *ElementDiff) Empty() bool { return len(d.Sets) == 0 }

// Len returns the number of elements the diff deletes and adds.
func (d *ElementDiff) Len() (deleted, added int) {
	for _, s := range d.Sets {
		deleted += len(s.Delete)
		added += len(s.Add)
	}
	return deleted, added
}

// String prints one line per changed element, "- " for a deletion and
// "+ " for an addition, qualified by its table and set, in the order Update
// sends them (every deletion before any addition).
func (d *ElementDiff) String() string {
	var b strings.Builder
	for _, op := range []string{"-", "+"} {
		for _, s := range d.Sets {
			es := s.Add
			if op == "-" {
				es = s.Delete
			}
			for _, e := range es {
				fmt.Fprintf(&b, "%s %s %s %s: %s\n", op, familyName(s.Family), s.Table, s.Set.Name, s.Set.renderElement(e))
			}
		}
	}
	return b.String()
}

// DiffElements returns the element changes that turn program old into
// program new. Its second result is false when an element diff cannot do
// it and only a full replace is correct:
//   - the programs differ in anything but set elements: a table appears or
//     disappears (the intent gains or loses an address family), or a set
//     definition, chain or rule differs;
//   - the elements of a single-field interval set differ (local-cidrs,
//     which only the LocalCIDRs configuration changes). The kernel keeps
//     such a set (rbtree) as start and "interval end" elements, adjacent
//     ranges share boundaries, and whether a range change that deletes and
//     re-adds one boundary in one transaction is accepted depends on the
//     kernel's overlap checks, so a replace is the safe way.
//
// Concatenated interval sets (firewall-allow) are diffed: their kernel
// backend (pipapo) keeps each range as one element with its start and end,
// the ranges of one port are merged and disjoint (prefixRanges), ranges of
// different ports differ in their leading fields, and Update sends every
// deletion before any addition, so a changed range is deleted whole before
// its replacement (possibly overlapping the old one) is added.
//
// Both programs come from Translate, whose set elements are sorted and
// unique; the cost is linear in their sizes.
func DiffElements(old, new *Program) (*ElementDiff, bool) {
	if len(old.Tables) != len(new.Tables) {
		return nil, false
	}
	d := &ElementDiff{}
	for i := range new.Tables {
		o, n := &old.Tables[i], &new.Tables[i]
		if o.Family != n.Family || o.Name != n.Name || len(o.Sets) != len(n.Sets) || chainsText(o) != chainsText(n) {
			return nil, false
		}
		for j := range n.Sets {
			os, ns := &o.Sets[j], &n.Sets[j]
			if !sameDefinition(os, ns) {
				return nil, false
			}
			del, add := diffSorted(os.Elements, ns.Elements)
			if len(del) == 0 && len(add) == 0 {
				continue
			}
			if ns.Interval && len(ns.Fields) == 1 {
				return nil, false
			}
			def := *ns
			def.Elements = nil
			d.Sets = append(d.Sets, SetDiff{Family: n.Family, Table: n.Name, Set: def, Delete: del, Add: add})
		}
	}
	return d, true
}

// sameDefinition reports whether two sets have the same name, key and
// flags.
func sameDefinition(a, b *Set) bool {
	if a.Name != b.Name || a.Interval != b.Interval || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i] != b.Fields[i] {
			return false
		}
	}
	return true
}

// chainsText renders a table's chains and rules: a fixed, small text (10
// rules) whatever the number of services.
func chainsText(t *Table) string {
	var b strings.Builder
	for _, c := range t.Chains {
		renderChain(&b, t.Family, c)
	}
	return b.String()
}

// diffSorted merges two sorted, duplicate-free element lists and returns
// the elements only in old (to delete) and only in new (to add).
func diffSorted(old, new []Element) (del, add []Element) {
	i, j := 0, 0
	for i < len(old) && j < len(new) {
		switch c := compareElement(old[i], new[j]); {
		case c < 0:
			del = append(del, old[i])
			i++
		case c > 0:
			add = append(add, new[j])
			j++
		default:
			i++
			j++
		}
	}
	del = append(del, old[i:]...)
	add = append(add, new[j:]...)
	return del, add
}
