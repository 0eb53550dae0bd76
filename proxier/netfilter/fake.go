package netfilter

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Call names an Interface method, for the Fake's counters and faults.
type Call string

// The calls of Interface.
const (
	CallProbe      Call = "Probe"
	CallApply      Call = "Apply"
	CallUpdate     Call = "Update"
	CallRepair     Call = "Repair"
	CallSnapshot   Call = "Snapshot"
	CallCleanup    Call = "Cleanup"
	CallGeneration Call = "Generation"
)

// Fake is an in-memory Interface: it keeps the last applied intent, as the
// kernel keeps our tables. Its Injector counts calls and fails them on
// demand (no call has a subject); Apply, Update and Cleanup are writes. A
// failed call changes nothing. It is safe for concurrent use.
type Fake struct {
	fault.Injector[Call]
	mu sync.Mutex
	// applied is the intent in "the kernel"; nil when no table exists.
	applied *model.Netfilter
	// gen is the generation ID: incremented by every successful Apply,
	// Update and Cleanup and by Tamper, as any commit increments the
	// kernel's.
	gen uint32
}

// NewFake returns a Fake with no tables.
func NewFake() *Fake {
	return &Fake{}
}

// call counts a call and returns its injected error, if any.
func (f *Fake) call(c Call) error {
	kind := fault.Read
	if c == CallApply || c == CallUpdate || c == CallRepair || c == CallCleanup {
		kind = fault.Write
	}
	return fault.Hit(&f.Injector, c, kind)
}

// Probe implements Interface.
func (f *Fake) Probe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.call(CallProbe)
}

// Apply implements Interface: it stores a copy of the sorted intent, or
// removes "the tables" for an empty intent, as Kernel does.
func (f *Fake) Apply(n *model.Netfilter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallApply); err != nil {
		return err
	}
	f.store(n)
	return nil
}

// Repair implements Interface by storing the intent, as Apply does (the
// kernel's repair ends with the same program), and counts as CallRepair.
func (f *Fake) Repair(_ model.NetfilterSnapshot, n *model.Netfilter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallRepair); err != nil {
		return err
	}
	f.store(n)
	return nil
}

// Update implements Interface by storing the new intent, as Apply does, and
// counts as CallUpdate (its own injected errors, its own call count). It
// refuses, with an error wrapping ErrDrift and changing nothing, an old
// intent whose program differs from what the fake holds: the caller broke
// Update's contract, which a kernel may not notice.
func (f *Fake) Update(old, new *model.Netfilter, changed *model.NetfilterGroups) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallUpdate); err != nil {
		return err
	}
	o, n := groupable(old), groupable(new)
	if changed != nil && f.applied != nil && o.SameSettings(n) && detectionOf(o) == detectionOf(n) {
		// Like the kernel's Update: only the named groups are compared
		// and written, so a change outside them stays out of the tables,
		// and the cost is theirs plus one copy.
		was, held := o.Groups(changed), f.applied.Groups(changed)
		if !o.SameSettings(f.applied) || !was.Equal(&held) {
			return fmt.Errorf("updating from an intent the tables do not hold: %w", ErrDrift)
		}
		part := n.Groups(changed)
		r := f.applied.ReplaceGroups(changed, &part)
		f.gen++
		f.applied = &r
		if len(familiesOf(&r)) == 0 {
			f.applied = nil
		}
		return nil
	}
	if err := f.holds(old); err != nil {
		return fmt.Errorf("updating from an intent the tables do not hold: %w", err)
	}
	f.store(new)
	return nil
}

// holds returns nil when the fake holds the intent's program: at once when
// it holds that very intent, else by comparing the programs (a verified
// intent may differ from the applied one and still give the same tables).
// f.mu must be held.
func (f *Fake) holds(n *model.Netfilter) error {
	s := sorted(n)
	if f.applied != nil && f.applied.Equal(s) {
		return nil
	}
	return compare(Translate(s, DefaultTableName).String(), f.program().String())
}

// store keeps a sorted copy of the intent, or no tables for an intent
// without addresses. f.mu must be held.
func (f *Fake) store(n *model.Netfilter) {
	f.gen++
	c := sorted(n)
	f.applied = c
	if len(familiesOf(c)) == 0 {
		f.applied = nil
	}
}

// program is the program "the kernel" holds. f.mu must be held.
func (f *Fake) program() *Program {
	if f.applied == nil {
		return &Program{}
	}
	return Translate(f.applied, DefaultTableName)
}

// Snapshot implements Interface: a copy of the intent "the kernel" holds.
func (f *Fake) Snapshot() (model.NetfilterSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallSnapshot); err != nil {
		return nil, err
	}
	s := &fakeSnapshot{program: f.program()}
	if f.applied != nil {
		s.applied = cloneIntent(f.applied)
	}
	return s, nil
}

// Verify is Snapshot, then its Verify.
func (f *Fake) Verify(n *model.Netfilter) error {
	s, err := f.Snapshot()
	if err != nil {
		return err
	}
	return s.Verify(n)
}

// fakeSnapshot is what a Fake's Snapshot read.
type fakeSnapshot struct {
	program *Program
	applied *model.Netfilter
}

// Verify compares the rendered programs, as the Kernel's snapshot
// compares the tables read back.
func (s *fakeSnapshot) Verify(n *model.Netfilter) error {
	return comparePrograms(Translate(sorted(n), DefaultTableName), s.program)
}

// Record returns the ports and node ports of the intent read.
func (s *fakeSnapshot) Record() model.ServedPorts { return servedPorts(s.applied) }

// Cleanup implements Interface.
func (f *Fake) Cleanup() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallCleanup); err != nil {
		return err
	}
	f.applied = nil
	f.gen++
	return nil
}

// Generation implements Interface.
func (f *Fake) Generation() (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallGeneration); err != nil {
		return 0, err
	}
	return f.gen, nil
}

// Tamper changes the stored intent as if someone edited our tables behind
// our back (an empty table when none exists), so that Verify sees drift.
func (f *Fake) Tamper(change func(*model.Netfilter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		f.applied = &model.Netfilter{}
	}
	change(f.applied)
	f.applied.Sort()
	f.gen++
}

// Applied returns a copy of the intent in "the kernel", or nil when no
// table exists.
func (f *Fake) Applied() *model.Netfilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		return nil
	}
	return cloneIntent(f.applied)
}

// Dump returns the canonical dump of the stored intent, one fact per line
// (model.Netfilter.Lines), or "" when no table exists.
func (f *Fake) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		return ""
	}
	return strings.Join(f.applied.Lines(), "\n") + "\n"
}

// sorted returns a sorted copy, leaving the caller's intent untouched.
func sorted(n *model.Netfilter) *model.Netfilter {
	c := cloneIntent(n)
	c.Sort()
	return c
}

func cloneIntent(n *model.Netfilter) *model.Netfilter {
	c := &model.Netfilter{
		MasqueradeAll:  n.MasqueradeAll,
		LocalCIDRs:     slices.Clone(n.LocalCIDRs),
		LocalInterface: n.LocalInterface,
		MasqueradeMark: n.MasqueradeMark,
		Ports:          slices.Clone(n.Ports),
		NodePorts:      slices.Clone(n.NodePorts),
		Hairpin:        slices.Clone(n.Hairpin),
	}
	for i := range c.Ports {
		c.Ports[i].SourceRanges = slices.Clone(c.Ports[i].SourceRanges)
	}
	return c
}

// compare returns nil when the rendered programs are equal, else ErrDrift
// with the lines that differ.
func compare(want, have string) error {
	if want == have {
		return nil
	}
	return fmt.Errorf("%w:\n%s", ErrDrift, lineDiff(want, have))
}

// comparePrograms is compare on two programs, want from Translate: when
// their sets' definitions and elements are identical and their chains
// render alike (DiffElements finds nothing to change), they render alike,
// so the whole text is rendered only to describe a drift. Rendering both
// programs and comparing the text took most of the 40 s of a restart's
// read-back at 100,000 services in the test VM (the sets hold 100,000+
// elements).
func comparePrograms(want, have *Program) error {
	if d, ok := DiffElements(want, have); ok && d.Empty() {
		return nil
	}
	return compare(want.String(), have.String())
}

// lineDiff lists the lines only in want (-) and only in have (+), at most
// 20 of each: enough to see what drifted without printing a whole table.
func lineDiff(want, have string) string {
	// Lines are qualified by their table and set or chain, so that an
	// element moved from one set to another shows.
	count := func(s string) map[string]int {
		m := map[string]int{}
		var table, block string
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "table "):
				table, block = strings.TrimSuffix(l, " {"), ""
				continue
			case strings.HasPrefix(l, "set "), strings.HasPrefix(l, "chain "):
				block = strings.TrimSuffix(l, " {")
			case l == "" || l == "}" || l == "elements = {":
				continue
			}
			m[table+" "+block+": "+strings.TrimSuffix(l, ",")]++
		}
		return m
	}
	w, h := count(want), count(have)
	var missing, extra []string
	for l, n := range w {
		if h[l] < n {
			missing = append(missing, "- "+l)
		}
	}
	for l, n := range h {
		if w[l] < n {
			extra = append(extra, "+ "+l)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return strings.Join(append(clip(missing), clip(extra)...), "\n")
}

func clip(lines []string) []string {
	if len(lines) > 20 {
		return append(lines[:20:20], fmt.Sprintf("  ... %d more", len(lines)-20))
	}
	return lines
}
