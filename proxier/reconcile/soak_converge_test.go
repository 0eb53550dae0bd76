package reconcile

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// soakHeapSlack is how much more live heap the soak may leave than the
// same objects took before the churn: maps keep the buckets of their
// largest size, and the fakes and the engine peak with the churn, within a
// bounded set of objects (soakSlots). A leak per iteration or per failure
// grows past it within a default run.
const soakHeapSlack = 1 << 20

// converge stops the faults and runs the engine as the runner would, one
// fake second per round: an incremental sync, a repair step, a drain poll.
// Once the longest backoff, a repair cycle and the drain timeout have
// passed, only the refused objects may have a status (failed, invalid:
// they are not retried until they change) and everything else must be as
// built; a full rebuild, as after a node update, gives them a new chance
// and then everything must converge.
// It returns the fake time until only the refused objects were left and
// the wall time the whole took.
func (s *soak) converge() (settled, wall time.Duration) {
	s.t.Helper()
	s.stopFaults()
	start, wallStart := s.clock.Now(), time.Now()
	s.check("sync", s.eng.Sync(s.ctx, s.take()))
	settled = -1
	quiet := retryMax + DefaultDrainTimeout + time.Duration(s.eng.RepairSteps()+1)*time.Second
	for s.clock.Since(start) < quiet {
		s.clock.Step(time.Second)
		s.check("sync", s.eng.Sync(s.ctx, nil))
		res, _ := s.eng.Repair(s.ctx, nil)
		s.check("repair step", res)
		s.eng.PollDrains(s.ctx)
		if settled < 0 && s.onlyRefused() {
			settled = s.clock.Since(start)
		}
	}
	if !s.onlyRefused() {
		s.t.Fatalf("%v after the faults stopped, healthy %v, draining %d, statuses:\n%s\nwant only refused objects failed",
			quiet, s.eng.Healthy(), s.eng.Draining(), s.statusReport())
	}
	s.expectBuilt("after the faults stopped, before the refused objects' new chance", true)
	s.check("full", s.eng.Full(s.ctx, nil, true))
	s.expectConverged("after the faults stopped")
	return settled, time.Since(wallStart)
}

// onlyRefused reports whether the proxy is healthy, nothing drains and
// every object with a status is failed as invalid (one of the refusals).
func (s *soak) onlyRefused() bool {
	failed := s.eng.FailedObjects()
	return s.eng.Healthy() && s.eng.Draining() == 0 && len(failed) <= 1 && s.eng.Statuses() == failed[ReasonInvalid]
}

// expectConverged ends the drains (their timeout passes) and asserts that
// the kernel is what proxier.Build makes of the objects, that the engine is
// healthy with no status left, and that a full reconcile then writes
// nothing.
func (s *soak) expectConverged(when string) {
	s.t.Helper()
	s.clock.Step(DefaultDrainTimeout)
	s.eng.PollDrains(s.ctx)
	s.expectBuilt(when, false)
	if !s.eng.Healthy() || s.eng.Statuses() != 0 || len(s.eng.FailedObjects()) != 0 || s.eng.Draining() != 0 {
		s.t.Fatalf("%s: healthy %v, failed %v, draining %d, statuses:\n%s", when, s.eng.Healthy(),
			s.eng.FailedObjects(), s.eng.Draining(), s.statusReport())
	}
	if res := s.eng.Full(s.ctx, nil, false); res.Writes != 0 || res.Failures != 0 {
		s.t.Fatalf("%s: a full reconcile of the converged kernel wrote %d times (%d failures)", when, res.Writes, res.Failures)
	}
}

// expectBuilt asserts that the kernel (IPVS, bound addresses, netfilter
// program) is what proxier.Build makes of the objects; exceptRefused
// leaves out what the refusals concern. Orphans that restarts left are
// deleted by hand first, as docs/safety.md says.
func (s *soak) expectBuilt(when string, exceptRefused bool) {
	s.t.Helper()
	want := s.want()
	kernel := s.kernel()
	bound := s.boundSet()
	for k := range kernel.Services {
		if _, ours := s.eng.applied.Services[k]; !ours && s.orphan(k, bound) {
			s.orphans++
			must(s.t, s.ipvs.DeleteVirtualServer(k))
			delete(kernel.Services, k)
		}
	}
	gotVS, wantVS := kernel.IPVSLines(), want.IPVSLines()
	gotAddrs, wantAddrs := s.bound(), want.SortedAddresses()
	if exceptRefused {
		refused := func(l string) bool {
			return strings.Contains(l, "-t "+strings.TrimPrefix(refusedVS, "tcp ")+" ") || strings.Contains(l, "-r "+refusedReal+" ")
		}
		gotVS, wantVS = slices.DeleteFunc(gotVS, refused), slices.DeleteFunc(wantVS, refused)
		addr := func(a netip.Addr) bool { return a.String() == refusedAddr }
		gotAddrs, wantAddrs = slices.DeleteFunc(gotAddrs, addr), slices.DeleteFunc(wantAddrs, addr)
	}
	if got, w := strings.Join(gotVS, "\n"), strings.Join(wantVS, "\n"); got != w {
		s.t.Fatalf("%s: IPVS is\n%s\nwant (proxier.Build)\n%s", when, got, w)
	}
	if !slices.Equal(gotAddrs, wantAddrs) {
		s.t.Fatalf("%s: bound addresses %v, want %v", when, gotAddrs, wantAddrs)
	}
	if err := s.nf.Verify(&want.Netfilter); err != nil {
		s.t.Fatalf("%s: netfilter program: %v", when, err)
	}
	if got := s.nf.Applied(); got != nil && !got.Equal(&want.Netfilter) {
		s.t.Fatalf("%s: netfilter intent\n%s\nwant\n%s", when, strings.Join(got.Lines(), "\n"), strings.Join(want.Netfilter.Lines(), "\n"))
	}
}

// statusReport lists every object with a status, sorted.
func (s *soak) statusReport() string {
	var lines []string
	add := func(o Object, st *Status) {
		lines = append(lines, fmt.Sprintf("  %s: failed %v, reason %s, %d attempts, retry at %v, op %q: %v",
			o, st.Failed, st.Reason, st.Attempts, st.RetryAt.Sub(s.clock.Now()), st.Op.String(), st.Err))
	}
	for _, m := range s.eng.status.vs {
		for o, st := range m {
			add(o, st)
		}
	}
	for a, st := range s.eng.status.addrs {
		add(Object{Kind: ObjAddress, Addr: a}, st)
	}
	for k, st := range s.eng.status.other {
		add(Object{Kind: k}, st)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// expectNoLeak asserts that the churn left no goroutine and at most
// soakHeapSlack more live heap than the same objects took before it.
func (s *soak) expectNoLeak(heap0, heap1 uint64, goroutines0 int) {
	s.t.Helper()
	// A netfilter read-back started by the last repair step may still be
	// finishing: it ends by itself.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines0 {
		s.t.Errorf("%d goroutines after the soak, %d before", n, goroutines0)
	}
	if s.log != nil {
		s.t.Log("heap not compared: the log ring (IPVS_PROXY_SOAK_LOG) holds a megabyte")
		return
	}
	if heap1 > heap0+soakHeapSlack {
		s.t.Errorf("live heap %d KiB after the soak, %d KiB before with the same objects: more than %d KiB kept",
			heap1>>10, heap0>>10, soakHeapSlack>>10)
	}
}

// expectBelief asserts that what the engine believes the kernel holds (its
// applied state) is what the fakes hold, unless someone changed the kernel
// since the engine last read it whole: a failed call changes nothing, so
// the engine must record exactly the calls that succeeded. Virtual servers
// that were not the engine's to take (orphans, strays) since its last full
// read are left out: one that becomes ours (its address does) is adopted
// as it is written, its real servers learnt at the next full read.
func (s *soak) expectBelief(after string) {
	s.t.Helper()
	if s.drifted || !s.eng.started {
		return
	}
	applied := s.eng.applied
	got, want := model.NewState(), model.NewState()
	bound := s.boundSet()
	// A restart's adoption assumes what it has not read yet (adopt.go):
	// the virtual servers it assumed, and those of ours it has not listed
	// yet, are not compared until then.
	owned := s.eng.ownership(applied.Addresses)
	unread := func(k model.VSKey) bool {
		_, assumed := s.eng.assumed[k]
		_, known := applied.Services[k]
		mine, _ := owned(k)
		return assumed || s.eng.adopting() && !known && mine
	}
	for _, svc := range s.ipvs.Services() {
		k := svc.VSKey
		if _, ours := applied.Services[k]; !ours && (k.Port == strayPort || s.orphan(k, bound)) {
			s.unknown[k] = true
		}
		if !s.unknown[k] && !unread(k) {
			got.Services[k] = svc
		}
	}
	for k, svc := range applied.Services {
		if !s.unknown[k] && !unread(k) {
			want.Services[k] = svc
		}
	}
	if g, w := strings.Join(got.IPVSLines(), "\n"), strings.Join(want.IPVSLines(), "\n"); g != w {
		s.t.Fatalf("iteration %d, after a %s: IPVS is\n%s\nthe engine believes\n%s", s.iterations, after, g, w)
	}
	if g, w := s.dumpedAddresses(), applied.SortedAddresses(); !slices.Equal(g, w) {
		s.t.Fatalf("iteration %d, after a %s: bound addresses %v, the engine believes %v", s.iterations, after, g, w)
	}
	s.expectNetfilterBelief(after)
}

// expectNetfilterBelief asserts that the program the engine believes
// applied is the one the fake holds.
func (s *soak) expectNetfilterBelief(after string) {
	if !s.eng.nfApplied {
		return
	}
	program := (&netfilter.Program{}).String()
	if n := s.nf.Applied(); n != nil {
		program = netfilter.Translate(n, netfilter.DefaultTableName).String()
	}
	if w := netfilter.Translate(&s.eng.applied.Netfilter, netfilter.DefaultTableName).String(); program != w {
		s.t.Fatalf("iteration %d, after a %s: the engine believes its netfilter program applied, the kernel holds another:\n%s\nwant\n%s",
			s.iterations, after, program, w)
	}
}

// dumpedAddresses returns the addresses bound on the fake's dummy
// interface, read from its Dump (no call, so no fault).
func (s *soak) dumpedAddresses() []netip.Addr {
	lines := strings.Split(strings.TrimSpace(s.addr.Dump()), "\n")
	out := make([]netip.Addr, 0, len(lines))
	for _, l := range lines[1:] {
		out = append(out, netip.MustParseAddr(l))
	}
	return out
}

// orphan reports whether a virtual server in the kernel is one the engine
// may not take (see Owner): not on a bound address, not a node port of the
// node, not wanted. Drift leaves such strays (on an address that stopped
// being ours before the engine saw them); a restart leaves virtual servers
// whose deletion had failed when the evidence that they were ours was gone
// (a node address removed; a port that left the netfilter record):
// docs/safety.md says to delete those by hand. Anything else without a
// restart is a bug.
func (s *soak) orphan(k model.VSKey, bound map[netip.Addr]struct{}) bool {
	if s.eng.cfg.Owner.Owns(k, bound, s.node.IPs) || s.eng.desired.VirtualServer(k) != nil || s.eng.desired.Bound(k.Addr) {
		return false
	}
	if k.Port != strayPort && s.restarts == 0 {
		s.t.Fatalf("iteration %d: virtual server %s is in the kernel, not ours, yet no restart could have left it", s.iterations, k)
	}
	return true
}

func (s *soak) boundSet() map[netip.Addr]struct{} {
	bound := map[netip.Addr]struct{}{}
	for _, a := range s.dumpedAddresses() {
		bound[a] = struct{}{}
	}
	return bound
}
