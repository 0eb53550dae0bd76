package fault

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

type call string

var (
	errA = errors.New("a")
	errB = errors.New("b")
)

func TestRules(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.10")
	type hit struct {
		call     call
		subjects []any
		want     error
	}
	tests := []struct {
		name  string
		rules func(in *Injector[call])
		hits  []hit
	}{
		{
			name:  "no rule",
			rules: func(*Injector[call]) {},
			hits:  []hit{{call: "Bind", want: nil}},
		},
		{
			name:  "by call",
			rules: func(in *Injector[call]) { in.Fail("Bind", Rule{Err: errA}) },
			hits:  []hit{{call: "Bind", want: errA}, {call: "Unbind", want: nil}, {call: "Bind", want: errA}},
		},
		{
			name:  "every call",
			rules: func(in *Injector[call]) { in.Fail("", Rule{Err: errA}) },
			hits:  []hit{{call: "Bind", want: errA}, {call: "List", want: errA}},
		},
		{
			name:  "by subject, string or Stringer",
			rules: func(in *Injector[call]) { in.Fail("Bind", Rule{Subject: "198.18.0.10", Err: errA}) },
			hits: []hit{
				{call: "Bind", subjects: []any{vip}, want: errA},
				{call: "Bind", subjects: []any{"198.18.0.10"}, want: errA},
				{call: "Bind", subjects: []any{netip.MustParseAddr("198.18.0.11")}, want: nil},
				{call: "Bind", want: nil},
			},
		},
		{
			name:  "any of the subjects",
			rules: func(in *Injector[call]) { in.Fail("", Rule{Subject: "rs", Err: errA}) },
			hits:  []hit{{call: "AddRealServer", subjects: []any{"vs", "rs"}, want: errA}, {call: "AddRealServer", subjects: []any{"vs", "other"}}},
		},
		{
			name: "times queue in order",
			rules: func(in *Injector[call]) {
				in.Fail("Apply", Rule{Err: errA, Times: 1})
				in.Fail("Apply", Rule{Err: errB, Times: 2})
			},
			hits: []hit{{call: "Apply", want: errA}, {call: "Apply", want: errB}, {call: "Apply", want: errB}, {call: "Apply"}},
		},
		{
			name: "first matching rule wins",
			rules: func(in *Injector[call]) {
				in.Fail("Apply", Rule{Subject: "x", Err: errA})
				in.Fail("Apply", Rule{Err: errB})
			},
			hits: []hit{{call: "Apply", subjects: []any{"x"}, want: errA}, {call: "Apply", subjects: []any{"y"}, want: errB}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in Injector[call]
			tc.rules(&in)
			for i, h := range tc.hits {
				if got := Hit(&in, h.call, Read, h.subjects...); got != h.want {
					t.Errorf("hit %d (%s %v) = %v, want %v", i, h.call, h.subjects, got, h.want)
				}
			}
		})
	}
}

func TestCounters(t *testing.T) {
	var in Injector[call]
	in.Fail("Set", Rule{Err: errA, Times: 1})
	Hit(&in, "Get", Read)
	Hit(&in, "Set", Write)
	Hit(&in, "Set", Write)
	Hit(&in, "Batch", Batch)
	if in.Calls("Set") != 2 || in.Calls("Get") != 1 || in.Calls("Batch") != 1 || in.Reads() != 1 || in.Writes() != 2 || in.Injected() != 1 {
		t.Errorf("calls Set %d Get %d Batch %d, reads %d writes %d injected %d; want 2, 1, 1, 1, 2, 1",
			in.Calls("Set"), in.Calls("Get"), in.Calls("Batch"), in.Reads(), in.Writes(), in.Injected())
	}
	in.ResetCalls()
	in.Fail("Set", Rule{Err: errA})
	in.ClearFaults()
	if err := Hit(&in, "Set", Write); err != nil || in.Writes() != 1 || in.Calls("Get") != 0 || in.Injected() != 0 {
		t.Errorf("after reset and clear: err %v, writes %d, Get %d, injected %d", err, in.Writes(), in.Calls("Get"), in.Injected())
	}
}

// A random rule fails about its share of calls, and the same seed fails the
// same calls.
func TestProbabilityIsSeeded(t *testing.T) {
	run := func(seed uint64) []bool {
		var in Injector[call]
		in.SeedFaults(seed)
		in.Fail("", Rule{Err: errA, Probability: 0.25})
		out := make([]bool, 4000)
		for i := range out {
			out[i] = Hit(&in, "List", Read) != nil
		}
		return out
	}
	a, b := run(7), run(7)
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("call %d: the same seed failed different calls", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 800 || n > 1200 {
		t.Errorf("%d of 4000 calls failed with probability 0.25", n)
	}
}

func TestConcurrent(t *testing.T) {
	var in Injector[call]
	in.Fail("", Rule{Err: errA, Probability: 0.5})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				Hit(&in, "List", Read)
				in.Calls("List")
			}
		})
	}
	wg.Wait()
	if in.Calls("List") != 4000 {
		t.Errorf("Calls = %d, want 4000", in.Calls("List"))
	}
}

func TestFailWithoutErrorPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Fail accepted a rule without an error")
		}
	}()
	var in Injector[call]
	in.Fail("Bind", Rule{})
}

func ExampleInjector() {
	// A fake embeds an Injector and calls Hit on entry to each method.
	type fake struct{ Injector[call] }
	var f fake
	f.Fail("Bind", Rule{Subject: "198.18.0.10", Err: errors.New("EINVAL"), Times: 1})
	fmt.Println(Hit(&f.Injector, "Bind", Write, netip.MustParseAddr("198.18.0.10")))
	fmt.Println(Hit(&f.Injector, "Bind", Write, netip.MustParseAddr("198.18.0.10")))
	fmt.Println(f.Calls("Bind"), f.Writes(), f.Injected())
	// Output:
	// EINVAL
	// <nil>
	// 2 2 1
}
