package reconcile

import (
	"runtime"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// rebuildAll recomputes every service's fragment: at start and after the
// node changed. Fragments of services that no longer exist are dropped.
func (e *Engine) rebuildAll(res *Result) {
	names := e.src.ServiceNames()
	present := make(map[types.NamespacedName]bool, len(names))
	for i, b := range e.buildAll(names) {
		present[names[i]] = true
		e.desired.Set(names[i], b.frag, b.problems)
	}
	var gone []types.NamespacedName
	for name := range e.desired.Names() {
		if !present[name] {
			gone = append(gone, name)
		}
	}
	for _, name := range gone {
		e.desired.Set(name, nil, nil)
	}
	names = append(names, gone...) // rebuilt as gone: they have no problems now
	e.rebuilt(res, names)
}

// built is one service's fragment and problems, as BuildService returns them.
type built struct {
	frag     *proxier.ServiceState
	problems []proxier.Problem
}

// buildAll builds the fragments of names, in names' order, on every CPU:
// BuildService is pure and the source is safe for concurrent reads, and
// the first sync of a restart has nothing else to run while it builds
// (100,000 services in the test VM: 16.8 s of its first sync on one CPU).
// The assembler, which is not, takes the fragments afterwards, in order.
func (e *Engine) buildAll(names []types.NamespacedName) []built {
	out := make([]built, len(names))
	const batch = 256
	workers := min(runtime.GOMAXPROCS(0), (len(names)+batch-1)/batch)
	var next sync.Mutex
	i := 0
	take := func() (int, int) {
		next.Lock()
		defer next.Unlock()
		lo := i
		i = min(i+batch, len(names))
		return lo, i
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for lo, hi := take(); lo < hi; lo, hi = take() {
				for j := lo; j < hi; j++ {
					out[j] = e.build(names[j])
				}
			}
		})
	}
	wg.Wait()
	return out
}

// build computes one service's fragment from the source; nil when it no
// longer exists.
func (e *Engine) build(name types.NamespacedName) built {
	svc := e.src.Service(name)
	if svc == nil {
		return built{}
	}
	frag, problems := proxier.BuildService(svc, e.src.EndpointSlices(name), e.node, e.cfg.Build)
	return built{frag: frag, problems: problems}
}
