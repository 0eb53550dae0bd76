package reconcile

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestRestartReadsTheNetfilterProgramOnce: a restart's netfilter program
// is read back once, and that one read serves the record and the check
// (at 100,000 services in the test VM each read is tens of seconds); the
// first sync writes nothing.
func TestRestartReadsTheNetfilterProgramOnce(t *testing.T) {
	r, _ := manyRig(t, 10, 4)
	r.restart()
	before, nf := r.nf.Calls(netfilter.CallSnapshot), r.nfWrites()
	if res := r.full(); res.Writes != 0 || r.nfWrites() != nf {
		t.Errorf("the first sync wrote %d times (netfilter %d)", res.Writes, r.nfWrites()-nf)
	}
	if got := r.nf.Calls(netfilter.CallSnapshot) - before; got != 1 {
		t.Errorf("the restart read the netfilter program %d times, want 1", got)
	}
	if !r.eng.Adopting() {
		t.Error("the read's record was not used: the restart did not assume the recorded virtual servers")
	}
}
