package healthcheck

import (
	"maps"
	"sync"
)

// Metrics counts the answers of the proxy health server by HTTP status
// code: kube-proxy's kubeproxy_proxy_healthz_total{code} and
// kubeproxy_proxy_livez_total{code}. *metrics.Metrics (package
// proxier/metrics) implements it; tests use a Recorder. Implementations
// must be safe for concurrent use and must not block.
type Metrics interface {
	// HealthzRequest counts one /healthz answer with status code.
	HealthzRequest(code int)
	// LivezRequest counts one /livez answer with status code.
	LivezRequest(code int)
}

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) HealthzRequest(int) {}
func (noMetrics) LivezRequest(int)   {}

// Recorder is a Metrics that keeps the counts in memory, for tests and
// examples. The zero value is ready to use.
type Recorder struct {
	mu      sync.Mutex
	healthz map[int]int
	livez   map[int]int
}

var _ Metrics = (*Recorder)(nil)

// HealthzRequest counts one /healthz answer with code.
func (r *Recorder) HealthzRequest(code int) { r.add(&r.healthz, code) }

// LivezRequest counts one /livez answer with code.
func (r *Recorder) LivezRequest(code int) { r.add(&r.livez, code) }

func (r *Recorder) add(m *map[int]int, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *m == nil {
		*m = map[int]int{}
	}
	(*m)[code]++
}

// Healthz returns a copy of the /healthz counts by status code.
func (r *Recorder) Healthz() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyCounts(r.healthz)
}

// Livez returns a copy of the /livez counts by status code.
func (r *Recorder) Livez() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyCounts(r.livez)
}

// copyCounts returns a copy of m, never nil.
func copyCounts(m map[int]int) map[int]int {
	out := make(map[int]int, len(m))
	maps.Copy(out, m)
	return out
}
