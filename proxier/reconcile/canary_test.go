package reconcile

import (
	"fmt"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestCheckIPVS: one dump per check, no drift over a matching kernel,
// drift once the table was flushed behind our back or one real server's
// weight changed (when that virtual server is the one picked), and none
// reported for a failed dump.
func TestCheckIPVS(t *testing.T) {
	r, _ := manyRig(t, 3, 5)
	r.ipvs.ResetCalls()
	for range 20 {
		if r.eng.CheckIPVS(r.ctx) {
			t.Fatal("drift reported over a matching kernel")
		}
	}
	if got := r.ipvs.Calls(ipvs.CallListRealServers); got != 20 {
		t.Errorf("%d dumps in 20 checks, want 20", got)
	}

	vs := key(t, "tcp 198.18.0.101:80")
	must(t, r.ipvs.UpdateRealServer(vs, model.RealServer{RSKey: rsKey("198.18.10.2:8080"), Weight: 5}))
	found := false
	for range 100 { // each check picks one of three at random
		found = found || r.eng.CheckIPVS(r.ctx)
	}
	if !found {
		t.Error("a changed weight was not found in 100 checks over 3 virtual servers")
	}
	r.full()

	r.ipvs.Fail(ipvs.CallListRealServers, fault.Rule{Err: fmt.Errorf("injected")})
	if r.eng.CheckIPVS(r.ctx) {
		t.Error("a failed dump reported as drift")
	}
	r.ipvs.ClearFaults()
	for _, s := range r.ipvs.Services() {
		must(t, r.ipvs.DeleteVirtualServer(s.VSKey))
	}
	if !r.eng.CheckIPVS(r.ctx) {
		t.Error("a flushed table was not reported")
	}
}
