package guest

import (
	"net/netip"
	"testing"
)

// kernelState builds a KernelState of one virtual server with scheduler
// sched and real servers reals, after the mutators.
func kernelState(sched string, reals []string, mut ...func(*KernelState)) KernelState {
	st := KernelState{
		VirtualServers: []VirtualServerState{{Key: "TCP 198.19.128.10:80", Scheduler: sched, Options: "flags=0x0", Reals: reals}},
		Bound:          []netip.Addr{netip.MustParseAddr("198.19.128.10")},
		Nftables:       "table ip ipvs-proxy {\n}\n",
	}
	for _, m := range mut {
		m(&st)
	}
	return st
}

// TestKernelStateString: the scenarios compare states by String, so every
// part of a state must show in it, and WithScheduler must change only the
// schedulers (without touching the state it is called on).
func TestKernelStateString(t *testing.T) {
	reals := []string{"198.19.1.2:8080 weight=1 fwd=0x0 thresholds=0/0"}
	base := kernelState("rr", reals)
	tests := []struct {
		name  string
		other KernelState
		equal bool
	}{
		{name: "same", other: kernelState("rr", reals), equal: true},
		{name: "scheduler", other: kernelState("lc", reals)},
		{name: "weight", other: kernelState("rr", []string{"198.19.1.2:8080 weight=0 fwd=0x0 thresholds=0/0"})},
		{name: "real server gone", other: kernelState("rr", nil)},
		{name: "options", other: kernelState("rr", reals, func(s *KernelState) { s.VirtualServers[0].Options = "flags=0x1" })},
		{name: "address", other: kernelState("rr", reals, func(s *KernelState) { s.Bound = nil })},
		{name: "ruleset", other: kernelState("rr", reals, func(s *KernelState) { s.Nftables = "" })},
		{name: "rr taken to lc", other: kernelState("lc", reals).WithScheduler("rr"), equal: true},
	}
	for _, tc := range tests {
		if got := base.String() == tc.other.String(); got != tc.equal {
			t.Errorf("%s: equal = %v, want %v:\n%s\n%s", tc.name, got, tc.equal, base, tc.other)
		}
	}
	if lc := base.WithScheduler("lc"); lc.VirtualServers[0].Scheduler != "lc" || base.VirtualServers[0].Scheduler != "rr" {
		t.Errorf("WithScheduler(lc) gave %q and left the original at %q", lc.VirtualServers[0].Scheduler, base.VirtualServers[0].Scheduler)
	}
}
