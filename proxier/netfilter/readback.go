package netfilter

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Snapshot implements Interface. It does not take k.mu, so that a
// read-back running off the sync goroutine never holds up a transaction;
// see the Interface for what a caller that writes meanwhile must do.
func (k *Kernel) Snapshot() (model.NetfilterSnapshot, error) {
	have, err := k.Read()
	if err != nil {
		return nil, err
	}
	return &snapshot{have: have, tableName: k.cfg.TableName}, nil
}

// Verify reads our tables back and compares them with what Apply(n)
// writes: Snapshot, then its Verify.
func (k *Kernel) Verify(n *model.Netfilter) error {
	s, err := k.Snapshot()
	if err != nil {
		return err
	}
	return s.Verify(n)
}

// snapshot is a program read back, in Translate's canonical form.
type snapshot struct {
	have      *Program
	tableName string
}

// Verify compares the program read with the intent's translation.
func (s *snapshot) Verify(n *model.Netfilter) error {
	return comparePrograms(Translate(sorted(n), s.tableName), s.have)
}

// Record decodes the service-ports and node-ports sets of the tables read.
func (s *snapshot) Record() model.ServedPorts {
	return recordOf(s.have)
}

// Read returns the content of our tables as the kernel has it, in the same
// canonical form Translate produces, so the two render identically when
// they agree.
func (k *Kernel) Read() (*Program, error) {
	c, err := k.conn()
	if err != nil {
		return nil, err
	}
	p := &Program{}
	for _, f := range families {
		tables, err := c.ListTablesOfFamily(f.table)
		if err != nil {
			return nil, fmt.Errorf("listing %s tables: %w", f.name, err)
		}
		if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == k.cfg.TableName }) {
			continue
		}
		t, err := readTable(c, k.cfg.NetNS, &nftables.Table{Family: f.table, Name: k.cfg.TableName})
		if err != nil {
			return nil, fmt.Errorf("reading table %s %s: %w", f.name, k.cfg.TableName, err)
		}
		p.Tables = append(p.Tables, t)
	}
	return p, nil
}

func readTable(c *nftables.Conn, netNS int, tbl *nftables.Table) (Table, error) {
	t := Table{Family: tbl.Family, Name: tbl.Name}
	sets, err := c.GetSets(tbl)
	if err != nil {
		return t, fmt.Errorf("listing sets: %w", err)
	}
	for _, ns := range sets {
		s, err := readSet(netNS, ns)
		if err != nil {
			return t, fmt.Errorf("set %s: %w", ns.Name, err)
		}
		t.Sets = append(t.Sets, s)
	}
	slices.SortStableFunc(t.Sets, func(a, b Set) int { return setOrder(a.Name) - setOrder(b.Name) })
	chains, err := c.ListChainsOfTableFamily(tbl.Family)
	if err != nil {
		return t, fmt.Errorf("listing chains: %w", err)
	}
	for _, nc := range chains {
		if nc.Table.Name != tbl.Name {
			continue
		}
		ch, err := readChain(netNS, tbl, nc)
		if err != nil {
			return t, fmt.Errorf("chain %s: %w", nc.Name, err)
		}
		t.Chains = append(t.Chains, ch)
	}
	slices.SortStableFunc(t.Chains, func(a, b Chain) int { return chainOrder(a.Name) - chainOrder(b.Name) })
	return t, nil
}

// chainOrder is the order Translate lists chains in; others go last.
func chainOrder(name string) int {
	i := slices.Index([]string{chainFirewall, chainFirewallPre, chainFirewallOut, chainFilterInput, chainNATPost, chainNATPre, chainNATOut}, name)
	if i < 0 {
		return 1 << 20
	}
	return i
}

func readSet(netNS int, ns *nftables.Set) (Set, error) {
	s := Set{Name: ns.Name, Interval: ns.Interval}
	for _, name := range strings.Split(ns.KeyType.Name, " . ") {
		s.Fields = append(s.Fields, fieldByName(name))
	}
	elems, err := dumpSetElements(netNS, ns)
	if err != nil {
		return s, err
	}
	switch {
	case !s.Interval:
		for _, e := range elems {
			s.Elements = append(s.Elements, Element{Key: e.Key})
		}
	case len(s.Fields) > 1:
		for _, e := range elems {
			end := e.KeyEnd
			if len(end) == 0 {
				end = e.Key
			}
			s.Elements = append(s.Elements, Element{Key: e.Key, KeyEnd: end})
		}
	default:
		s.Elements = rangesFromIntervals(elems)
	}
	s.Elements = canonicalElements(s.Elements)
	return s, nil
}

func fieldByName(name string) Field {
	for f := FieldIPv4; f <= FieldPort; f++ {
		if f.String() == name {
			return f
		}
	}
	return 0
}

// rangesFromIntervals turns the kernel's rbtree elements (a start, then an
// "interval end" one past the range) back into inclusive ranges. A start
// with no end runs to the top of the space.
func rangesFromIntervals(elems []dumpedElement) []Element {
	slices.SortStableFunc(elems, func(a, b dumpedElement) int { return bytes.Compare(a.Key, b.Key) })
	var out []Element
	for i := 0; i < len(elems); i++ {
		e := elems[i]
		if e.IntervalEnd {
			continue // an end with no start: nothing of ours
		}
		end := bytes.Repeat([]byte{0xff}, len(e.Key))
		if i+1 < len(elems) && elems[i+1].IntervalEnd {
			end = decrement(elems[i+1].Key)
			i++
		}
		out = append(out, Element{Key: e.Key, KeyEnd: end})
	}
	return out
}

// decrement returns b-1 as a big-endian number (b is never zero here: an
// interval end follows its start).
func decrement(b []byte) []byte {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]--
		if out[i] != 0xff {
			break
		}
	}
	return out
}

func readChain(netNS int, tbl *nftables.Table, nc *nftables.Chain) (Chain, error) {
	ch := Chain{Name: nc.Name}
	if nc.Hooknum != nil && nc.Priority != nil {
		ch.Hook = &Hook{Type: nc.Type, Hook: *nc.Hooknum, Priority: int32(*nc.Priority), Policy: nftables.ChainPolicyAccept}
		if nc.Policy != nil {
			ch.Hook.Policy = *nc.Policy
		}
	}
	rules, err := dumpRules(netNS, tbl, nc.Name)
	if err != nil {
		return ch, err
	}
	ch.Rules = rules
	return ch, nil
}

// Repair implements Interface: from a snapshot of ours whose tables differ
// from n's program only in set elements, it sends that element diff
// (ApplyElements); otherwise, or when the kernel refuses the diff (the
// tables changed since the read), it replaces the tables (Apply). A
// service-ports element deleted by hand from 100,000 is then one element
// written back instead of every table re-created (9.5 s of the sync
// goroutine in the test VM).
func (k *Kernel) Repair(from model.NetfilterSnapshot, n *model.Netfilter) error {
	s, ok := from.(*snapshot)
	if !ok || s.tableName != k.cfg.TableName {
		return k.Apply(n)
	}
	d, ok := DiffElements(s.have, Translate(sorted(n), k.cfg.TableName))
	switch {
	case !ok:
		return k.Apply(n)
	case d.Empty():
		return nil
	}
	if err := k.ApplyElements(d); err != nil {
		k.cfg.Logger.V(2).Info("Replacing the netfilter tables: the kernel refused the repair of their elements", "err", err)
		return k.Apply(n)
	}
	return nil
}
