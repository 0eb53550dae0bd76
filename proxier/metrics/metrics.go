// Package metrics defines the daemon's Prometheus metrics on a registry of
// its own (never the global one).
//
// Metrics named kubeproxy_* keep kube-proxy's names and meanings, so existing
// dashboards and alerts keep working after the switch; ours are named
// ipvs_proxy_*. The reconcile engine reports through the reconcile.Metrics
// interface, the daemon's loop through the Sync* and Changes methods, and
// the health servers through HealthzRequest and LivezRequest.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector and the registry they are registered on.
type Metrics struct {
	Registry *prometheus.Registry

	syncDuration         prometheus.Histogram
	syncFullDuration     prometheus.Histogram
	syncPartialDuration  prometheus.Histogram
	lastSync             prometheus.Gauge
	lastQueued           prometheus.Gauge
	programming          prometheus.Histogram
	endpointPending      prometheus.Gauge
	endpointTotal        prometheus.Counter
	servicePending       prometheus.Gauge
	serviceTotal         prometheus.Counter
	healthz              *prometheus.CounterVec
	livez                *prometheus.CounterVec
	virtualServers       prometheus.Gauge
	realServers          prometheus.Gauge
	draining             prometheus.Gauge
	drainsStarted        prometheus.Counter
	drainsFinished       *prometheus.CounterVec
	kernelErrors         *prometheus.CounterVec
	objectErrors         *prometheus.GaugeVec
	objectReasons        map[string]int
	kernelWrites         prometheus.Counter
	sysctlDrift          *prometheus.CounterVec
	syncs                *prometheus.CounterVec
	configWarnings       prometheus.Gauge
	serviceProblemsTotal prometheus.Counter
}

// syncBuckets are kube-proxy's sync duration buckets: 1 ms to ~16 s.
var syncBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// programmingBuckets are kube-proxy's network programming buckets.
func programmingBuckets() []float64 {
	var b []float64
	b = append(b, prometheus.LinearBuckets(0.25, 0.25, 2)...)
	b = append(b, prometheus.LinearBuckets(1, 1, 59)...)
	b = append(b, prometheus.LinearBuckets(60, 5, 12)...)
	return append(b, prometheus.LinearBuckets(120, 30, 7)...)
}

// New creates the metrics on a new registry, with Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	kp := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "kubeproxy", Name: name, Help: help}
	}
	ours := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ipvs_proxy", Name: name, Help: help}
	}
	hist := func(o prometheus.Opts, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.Namespace, Name: o.Name, Help: o.Help, Buckets: buckets})
	}
	m.syncDuration = hist(kp("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds (every sync, full or incremental)."), syncBuckets)
	m.syncFullDuration = hist(kp("sync_full_proxy_rules_duration_seconds", "Latency of full reconciles in seconds."), syncBuckets)
	m.syncPartialDuration = hist(kp("sync_partial_proxy_rules_duration_seconds", "Latency of incremental syncs in seconds."), syncBuckets)
	m.lastSync = prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_last_timestamp_seconds", "The last time a sync completed successfully.")))
	m.lastQueued = prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync was queued.")))
	m.programming = hist(kp("network_programming_duration_seconds", "In-cluster network programming latency in seconds, from the endpoints.kubernetes.io/last-change-trigger-time annotation to the kernel."), programmingBuckets())
	m.endpointPending = prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_endpoint_changes_pending", "Pending EndpointSlice changes.")))
	m.endpointTotal = prometheus.NewCounter(prometheus.CounterOpts(kp("sync_proxy_rules_endpoint_changes_total", "Cumulative EndpointSlice changes.")))
	m.servicePending = prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_service_changes_pending", "Pending Service changes.")))
	m.serviceTotal = prometheus.NewCounter(prometheus.CounterOpts(kp("sync_proxy_rules_service_changes_total", "Cumulative Service changes.")))
	m.healthz = prometheus.NewCounterVec(prometheus.CounterOpts(kp("proxy_healthz_total", "Cumulative proxy /healthz HTTP status codes.")), []string{"code"})
	m.livez = prometheus.NewCounterVec(prometheus.CounterOpts(kp("proxy_livez_total", "Cumulative proxy /livez HTTP status codes.")), []string{"code"})
	m.virtualServers = prometheus.NewGauge(prometheus.GaugeOpts(ours("virtual_servers", "IPVS virtual servers programmed by this proxy.")))
	m.realServers = prometheus.NewGauge(prometheus.GaugeOpts(ours("real_servers", "IPVS real servers programmed by this proxy.")))
	m.draining = prometheus.NewGauge(prometheus.GaugeOpts(ours("destinations_draining", "Real servers kept at weight 0 after their endpoint vanished without terminating.")))
	m.drainsStarted = prometheus.NewCounter(prometheus.CounterOpts(ours("drains_started_total", "Real servers put to weight 0 to drain.")))
	m.drainsFinished = prometheus.NewCounterVec(prometheus.CounterOpts(ours("drains_finished_total", "Drains ended, and deletions that skipped the drain, by reason.")), []string{"reason"})
	m.kernelErrors = prometheus.NewCounterVec(prometheus.CounterOpts(ours("kernel_operation_errors_total", "Failed kernel operations by operation: transient ones are retried with backoff, refusals fail their object (ipvs_proxy_object_errors).")), []string{"operation"})
	m.objectErrors = prometheus.NewGaugeVec(prometheus.GaugeOpts(ours("object_errors", "Kernel objects (virtual servers, real servers, addresses) that failed and are not retried until they change, by reason: invalid, scheduler-missing, foreign, retries-exhausted.")), []string{"reason"})
	m.kernelWrites = prometheus.NewCounter(prometheus.CounterOpts(ours("kernel_writes_total", "Kernel write operations attempted.")))
	m.sysctlDrift = prometheus.NewCounterVec(prometheus.CounterOpts(ours("sysctl_drift_total", "Required sysctls found with another value and reset.")), []string{"name"})
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts(ours("syncs_total", "Syncs by type (incremental, full, repair: one step of the paced periodic repair) and result (ok, failed).")), []string{"type", "result"})
	m.configWarnings = prometheus.NewGauge(prometheus.GaugeOpts(ours("config_warnings", "Configuration fields or flags set but not supported (see the start-up log).")))
	m.serviceProblemsTotal = prometheus.NewCounter(prometheus.CounterOpts(ours("service_problems_total", "Defects found in Services and EndpointSlices (skipped parts).")))
	m.Registry.MustRegister(m.syncDuration, m.syncFullDuration, m.syncPartialDuration, m.lastSync, m.lastQueued, m.programming,
		m.endpointPending, m.endpointTotal, m.servicePending, m.serviceTotal, m.healthz, m.livez,
		m.virtualServers, m.realServers, m.draining, m.drainsStarted, m.drainsFinished, m.kernelErrors, m.objectErrors, m.kernelWrites,
		m.sysctlDrift, m.syncs, m.configWarnings, m.serviceProblemsTotal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// KernelError implements reconcile.Metrics.
func (m *Metrics) KernelError(op string) { m.kernelErrors.WithLabelValues(op).Inc() }

// ObjectErrors sets the number of failed kernel objects by reason; reasons
// absent from byReason have none.
func (m *Metrics) ObjectErrors(byReason map[string]int) {
	for r := range m.objectReasons {
		if _, ok := byReason[r]; !ok {
			m.objectErrors.DeleteLabelValues(r)
		}
	}
	for r, n := range byReason {
		m.objectErrors.WithLabelValues(r).Set(float64(n))
	}
	m.objectReasons = byReason
}

// DrainStarted implements reconcile.Metrics.
func (m *Metrics) DrainStarted() { m.drainsStarted.Inc() }

// DrainFinished implements reconcile.Metrics.
func (m *Metrics) DrainFinished(reason string) { m.drainsFinished.WithLabelValues(reason).Inc() }

// The sync types of ipvs_proxy_syncs_total.
const (
	SyncIncremental = "incremental"
	// SyncFull reconciled everything at once; only these go to
	// kubeproxy_sync_full_proxy_rules_duration_seconds.
	SyncFull = "full"
	// SyncRepair is one step of the paced periodic repair (part of the
	// kernel read and repaired, plus the pending changes); its duration
	// goes to the partial histogram.
	SyncRepair = "repair"
)

// SyncDone records one sync: its duration and type (SyncIncremental,
// SyncFull, SyncRepair), its kernel writes, and, when it left nothing
// failed, the last-sync timestamp.
func (m *Metrics) SyncDone(typ string, d time.Duration, writes int, failed bool, now time.Time) {
	m.syncDuration.Observe(d.Seconds())
	if typ == SyncFull {
		m.syncFullDuration.Observe(d.Seconds())
	} else {
		m.syncPartialDuration.Observe(d.Seconds())
	}
	result := "ok"
	if failed {
		result = "failed"
	} else {
		m.lastSync.Set(float64(now.UnixNano()) / 1e9)
	}
	m.syncs.WithLabelValues(typ, result).Inc()
	m.kernelWrites.Add(float64(writes))
}

// Queued records that a sync was queued.
func (m *Metrics) Queued(now time.Time) { m.lastQueued.Set(float64(now.UnixNano()) / 1e9) }

// Changes records the Service and EndpointSlice updates a sync consumed.
func (m *Metrics) Changes(services, endpoints int) {
	m.serviceTotal.Add(float64(services))
	m.endpointTotal.Add(float64(endpoints))
}

// Pending sets the pending-changes gauges.
func (m *Metrics) Pending(services, endpoints int) {
	m.servicePending.Set(float64(services))
	m.endpointPending.Set(float64(endpoints))
}

// Programmed observes network programming latency for trigger times.
func (m *Metrics) Programmed(now time.Time, triggers []time.Time) {
	for _, t := range triggers {
		if !t.IsZero() && !now.Before(t) {
			m.programming.Observe(now.Sub(t).Seconds())
		}
	}
}

// State sets the programmed-state gauges.
func (m *Metrics) State(virtualServers, realServers, draining int) {
	m.virtualServers.Set(float64(virtualServers))
	m.realServers.Set(float64(realServers))
	m.draining.Set(float64(draining))
}

// SysctlDrift counts a required sysctl found with another value.
func (m *Metrics) SysctlDrift(name string) { m.sysctlDrift.WithLabelValues(name).Inc() }

// ConfigWarnings sets the number of unsupported configuration settings.
func (m *Metrics) ConfigWarnings(n int) { m.configWarnings.Set(float64(n)) }

// ServiceProblems counts defects found in input objects.
func (m *Metrics) ServiceProblems(n int) { m.serviceProblemsTotal.Add(float64(n)) }

// HealthzRequest counts a /healthz answer by status code.
func (m *Metrics) HealthzRequest(code int) { m.healthz.WithLabelValues(strconv.Itoa(code)).Inc() }

// LivezRequest counts a /livez answer by status code.
func (m *Metrics) LivezRequest(code int) { m.livez.WithLabelValues(strconv.Itoa(code)).Inc() }
