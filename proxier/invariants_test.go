package proxier

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// checkInvariants asserts what every built state must hold, whatever the
// input: every real server belongs to a virtual server of its family,
// weights are 0 or 1, real servers are sorted and unique, virtual servers
// are unique by construction (a map), a persistent one has a timeout, and
// every bound address has a virtual server.
func checkInvariants(t testing.TB, st *model.State) {
	t.Helper()
	bound := map[string]bool{}
	for k, svc := range st.Services {
		if svc.VSKey != k {
			t.Errorf("virtual server %s stored under key %s", svc.VSKey, k)
		}
		if !ValidScheduler(svc.Scheduler) {
			t.Errorf("%s: invalid scheduler %q", k, svc.Scheduler)
		}
		if svc.Persistent() != (svc.Timeout > 0) {
			t.Errorf("%s: persistence flag and timeout %d disagree", k, svc.Timeout)
		}
		for i, r := range svc.Reals {
			if r.Weight != 0 && r.Weight != 1 {
				t.Errorf("%s: real server %s has weight %d", k, r.RSKey, r.Weight)
			}
			if r.Addr.Is4() != k.Addr.Is4() {
				t.Errorf("%s: real server %s of the other family", k, r.RSKey)
			}
			if !r.Addr.IsValid() || r.Port == 0 {
				t.Errorf("%s: invalid real server %s", k, r.RSKey)
			}
			if i > 0 && !svc.Reals[i-1].RSKey.Less(r.RSKey) {
				t.Errorf("%s: real servers not sorted and unique at %s", k, r.RSKey)
			}
		}
		bound[k.Addr.String()] = true
	}
	for a := range st.Addresses {
		if !bound[a.String()] {
			t.Errorf("address %s bound without a virtual server", a)
		}
	}
}
