// Package fault gives the in-memory fakes of the kernel adapters (ipvs,
// addr, netfilter, conntrack, sysctl, kubeproxy) one way to fail calls on
// demand and to count them. Each fake embeds an Injector, so every fake
// has the same methods with the same meaning:
//
//	f.Fail(ipvs.CallAddRealServer, fault.Rule{Subject: "198.18.10.9:8080", Err: refusal})
//	f.Fail(netfilter.CallApply, fault.Rule{Err: boom, Times: 1})
//	f.Fail("", fault.Rule{Err: enobufs, Probability: 0.05}) // any call, at random
//	f.ClearFaults()
//	f.Calls(ipvs.CallListServices), f.Reads(), f.Writes(), f.ResetCalls()
//
// A call concerns zero or more subjects, which the fake names in its doc:
// a virtual server key, a real server, an address, a sysctl name. A rule
// with a subject fails only the calls concerning it; a rule without one
// fails every call it names. Random rules draw from the injector's own
// source, seeded with SeedFaults, so that a failing run can be replayed.
package fault

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Rule says which calls fail and with what error.
type Rule struct {
	// Subject restricts the rule to calls concerning this object, as the
	// fake names it ("" matches every call).
	Subject string
	// Err is what a failed call returns; the call changes nothing.
	Err error
	// Times is how many calls the rule fails before it is removed (0: no
	// limit). Rules added one after another fail calls in that order.
	Times int
	// Probability is the chance that the rule fails a matching call, drawn
	// from the injector's seeded source; 0 (or 1 and more) fails every
	// matching call.
	Probability float64
}

// Kind says what a call does, for the Reads and Writes counters.
type Kind uint8

// The kinds of calls.
const (
	Read Kind = iota
	Write
	// Batch carries other calls, which the fake counts one by one: it is
	// neither a read nor a write of its own.
	Batch
)

// Injector fails calls by rule and counts them. The zero value is ready to
// use; it is safe for concurrent use. Fakes embed it; C is their type of
// call names (ipvs.Call, netfilter.Call...).
type Injector[C ~string] struct {
	mu       sync.Mutex
	rules    []rule[C]
	calls    map[C]int
	reads    int
	writes   int
	injected int
	rng      *rand.Rand
}

type rule[C ~string] struct {
	call C
	Rule
}

// Fail adds a rule failing calls of the given name ("" fails every call).
// It panics when r.Err is nil: such a rule would fail nothing.
func (in *Injector[C]) Fail(call C, r Rule) {
	if r.Err == nil {
		panic("fault: a rule needs an error")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, rule[C]{call: call, Rule: r})
}

// ClearFaults removes every rule: later calls succeed (or fail as the
// fake's state says).
func (in *Injector[C]) ClearFaults() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

// SeedFaults seeds the source that random rules draw from. Without it the
// source has seed 0, so runs repeat unless the caller picks a seed.
func (in *Injector[C]) SeedFaults(seed uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Calls returns how many calls of the given name were made, failed ones
// included, since the fake was made or ResetCalls.
func (in *Injector[C]) Calls(call C) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[call]
}

// Reads returns how many calls read the kernel, failed ones included.
func (in *Injector[C]) Reads() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.reads
}

// Writes returns how many calls wrote to the kernel, failed ones included:
// what a test counts to prove that a no-op sync writes nothing.
func (in *Injector[C]) Writes() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.writes
}

// Injected returns how many calls a rule failed.
func (in *Injector[C]) Injected() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.injected
}

// ResetCalls zeroes the call counters (Calls, Reads, Writes, Injected).
// The rules stay.
func (in *Injector[C]) ResetCalls() {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.calls)
	in.reads, in.writes, in.injected = 0, 0, 0
}

// Hit counts one call of a fake and returns the error of the first rule
// that matches it and fires, or nil. kind says whether the call reads or
// writes the kernel; subjects are the objects it concerns, strings or
// fmt.Stringers (keys, addresses), formatted only when a rule names a
// subject: the fakes serve benchmarks too. Fakes call it on entry to every
// method. It is a function, not a method, so that it is not promoted into
// the fakes' method sets.
func Hit[C ~string](in *Injector[C], call C, kind Kind, subjects ...any) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.calls == nil {
		in.calls = map[C]int{}
	}
	in.calls[call]++
	switch kind {
	case Read:
		in.reads++
	case Write:
		in.writes++
	}
	for i := range in.rules {
		r := &in.rules[i]
		if !r.matches(call, subjects) || !in.fires(r.Probability) {
			continue
		}
		err := r.Err
		if r.Times > 0 {
			if r.Times--; r.Times == 0 {
				in.rules = append(in.rules[:i], in.rules[i+1:]...)
			}
		}
		in.injected++
		return err
	}
	return nil
}

func (r *rule[C]) matches(call C, subjects []any) bool {
	if r.call != "" && r.call != call {
		return false
	}
	if r.Subject == "" {
		return true
	}
	for _, s := range subjects {
		switch s := s.(type) {
		case string:
			if s == r.Subject {
				return true
			}
		case fmt.Stringer:
			if s.String() == r.Subject {
				return true
			}
		}
	}
	return false
}

// fires draws whether a rule with probability p fails this call. in.mu is
// held.
func (in *Injector[C]) fires(p float64) bool {
	if p <= 0 || p >= 1 {
		return true
	}
	if in.rng == nil {
		in.rng = rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15))
	}
	return in.rng.Float64() < p
}
