package healthcheck

import (
	"maps"
	"strconv"
	"sync"
)

// Metrics counts the requests the proxy health server answers. code is the
// HTTP status as a decimal string ("200", "503"), the label value of
// kube-proxy's kubeproxy_proxy_healthz_total{code} and
// kubeproxy_proxy_livez_total{code}. Implementations must be safe for
// concurrent use and must not block.
type Metrics interface {
	// HealthzServed counts one answer of /healthz.
	HealthzServed(code string)
	// LivezServed counts one answer of /livez.
	LivezServed(code string)
}

// MetricsFuncs adapts two functions to Metrics; a nil function counts
// nothing. The daemon passes its Prometheus counters this way:
//
//	healthcheck.MetricsFuncs{
//		Healthz: func(code string) { healthzTotal.WithLabelValues(code).Inc() },
//		Livez:   func(code string) { livezTotal.WithLabelValues(code).Inc() },
//	}
type MetricsFuncs struct {
	Healthz func(code string)
	Livez   func(code string)
}

var _ Metrics = MetricsFuncs{}

// HealthzServed calls f.Healthz when it is set.
func (f MetricsFuncs) HealthzServed(code string) {
	if f.Healthz != nil {
		f.Healthz(code)
	}
}

// LivezServed calls f.Livez when it is set.
func (f MetricsFuncs) LivezServed(code string) {
	if f.Livez != nil {
		f.Livez(code)
	}
}

// Recorder is a Metrics that keeps the counts in memory, for tests and
// examples. The zero value is ready to use.
type Recorder struct {
	mu      sync.Mutex
	healthz map[string]int
	livez   map[string]int
}

var _ Metrics = (*Recorder)(nil)

// HealthzServed counts one /healthz answer with code.
func (r *Recorder) HealthzServed(code string) { r.add(&r.healthz, code) }

// LivezServed counts one /livez answer with code.
func (r *Recorder) LivezServed(code string) { r.add(&r.livez, code) }

func (r *Recorder) add(m *map[string]int, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[code]++
}

// Healthz returns a copy of the /healthz counts by code.
func (r *Recorder) Healthz() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyCounts(r.healthz)
}

// Livez returns a copy of the /livez counts by code.
func (r *Recorder) Livez() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyCounts(r.livez)
}

// copyCounts returns a copy of m, never nil.
func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	maps.Copy(out, m)
	return out
}

// codeLabel is the metric label value for an HTTP status code.
func codeLabel(status int) string { return strconv.Itoa(status) }
