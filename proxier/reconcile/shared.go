package reconcile

import (
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The applied state of a virtual server is, after a successful sync, equal
// to its desired state: the same virtual server and the same real servers.
// Holding both doubles the largest part of the engine's memory (at 10,000
// services × 10 endpoints, 7 MB of real-server slices and 1.6 MB of
// services in a heap profile of the cold sync; issue 14), so once they are
// equal the applied state points at the desired *model.Service instead of
// a copy of it. Desired services are never changed in place (Build makes
// new ones), so sharing is safe as long as every change of the applied
// state goes through ownApplied, which copies a shared service first.

// shareApplied points the applied state of each key at its desired
// virtual server where the two are equal. A virtual server with draining
// real servers keeps its own copy: its effective desired state is built per
// sync.
func (e *Engine) shareApplied(keys []model.VSKey) {
	for _, k := range keys {
		have := e.applied.Services[k]
		want := e.desired.VirtualServer(k)
		if have == nil || want == nil || have == want || len(e.drains[k]) > 0 {
			continue
		}
		if have.VirtualServer != want.VirtualServer || !slices.Equal(have.Reals, want.Reals) {
			continue
		}
		e.applied.Services[k] = want
		e.shared[k] = struct{}{}
	}
}

// ownApplied returns the applied state of k for changing in place: a copy
// of its own when it was shared with the desired state; nil when k is not
// applied.
func (e *Engine) ownApplied(k model.VSKey) *model.Service {
	s := e.applied.Services[k]
	if s == nil {
		return nil
	}
	if _, ok := e.shared[k]; ok {
		s = s.Clone()
		e.applied.Services[k] = s
		delete(e.shared, k)
	}
	return s
}

// resetApplied replaces the whole applied state with one of the engine's
// own (a Full's reading of the kernel).
func (e *Engine) resetApplied(st *model.State) {
	e.applied, e.appliedReals, e.assumed = st, 0, nil
	for _, s := range st.Services {
		e.appliedReals += len(s.Reals)
	}
	clear(e.shared)
}

// ipvsKeys returns the virtual servers of ops' IPVS operations.
func ipvsKeys(ops []model.Op) []model.VSKey {
	var keys []model.VSKey
	for _, op := range ops {
		if isIPVSOp(op.Kind) && (len(keys) == 0 || keys[len(keys)-1] != op.VS.VSKey) {
			keys = append(keys, op.VS.VSKey)
		}
	}
	return keys
}
