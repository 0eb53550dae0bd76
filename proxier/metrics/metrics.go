// Package metrics defines the daemon's Prometheus metrics on a registry of
// its own (never the global one).
//
// Metrics named kubeproxy_* keep kube-proxy's names, types, labels, buckets
// and meanings (k8s.io/kubernetes pkg/proxy/metrics), so existing dashboards
// and alerts keep working after the switch; so do client-go's rest_client_*
// (restclient.go) and kubernetes_build_info (SetBuildInfo). Ours are named
// ipvs_proxy_*. testdata/kube-proxy-families.txt lists kube-proxy's families
// (go generate, from kube-proxy's source) and TestKubeProxyFamilies checks
// ours against it.
//
// kube-proxy runs one proxier per IP family and labels the per-sync series
// with ip_family ("IPv4", "IPv6"). ipvs-proxy syncs both families at once:
// SetFamilies names the families the node proxies, and every per-family
// series is recorded once for each of them.
//
// The reconcile engine reports through the reconcile.Metrics interface, the
// daemon's loop through the Sync* and Changes methods, and the health
// servers through HealthzRequest and LivezRequest.
package metrics

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector and the registry they are registered on.
type Metrics struct {
	Registry *prometheus.Registry

	// mu guards families and queuedAt (the loop and the informers' queued
	// hook run apart).
	mu       sync.Mutex
	families []string
	queuedAt time.Time

	syncDuration         *prometheus.HistogramVec
	syncFullDuration     *prometheus.HistogramVec
	syncPartialDuration  *prometheus.HistogramVec
	lastSync             *prometheus.GaugeVec
	lastQueued           *prometheus.GaugeVec
	programming          *prometheus.HistogramVec
	noLocal              *prometheus.GaugeVec
	conntrackDuration    *prometheus.HistogramVec
	conntrackDeleted     *prometheus.CounterVec
	buildInfo            *prometheus.GaugeVec
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
	hist := func(o prometheus.Opts, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Name: o.Name, Help: o.Help, Buckets: buckets}, []string{ipFamily})
	}
	m.syncDuration = hist(kp("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds (every sync, full or incremental)."), syncBuckets)
	m.syncFullDuration = hist(kp("sync_full_proxy_rules_duration_seconds", "Latency of full reconciles in seconds."), syncBuckets)
	m.syncPartialDuration = hist(kp("sync_partial_proxy_rules_duration_seconds", "Latency of incremental syncs in seconds."), syncBuckets)
	m.lastSync = prometheus.NewGaugeVec(prometheus.GaugeOpts(kp("sync_proxy_rules_last_timestamp_seconds", "The last time a sync completed successfully.")), []string{ipFamily})
	m.lastQueued = prometheus.NewGaugeVec(prometheus.GaugeOpts(kp("sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync was queued.")), []string{ipFamily})
	m.programming = hist(kp("network_programming_duration_seconds", "In-cluster network programming latency in seconds, from the endpoints.kubernetes.io/last-change-trigger-time annotation to the kernel."), programmingBuckets())
	m.noLocal = prometheus.NewGaugeVec(prometheus.GaugeOpts(kp("sync_proxy_rules_no_local_endpoints_total", "Number of services with a Local traffic policy and no endpoints on this node while the cluster has some.")), []string{"traffic_policy", ipFamily})
	m.conntrackDuration = hist(kp("conntrack_reconciler_sync_duration_seconds", "Latency in seconds of clearing stale UDP conntrack entries after a sync."), syncBuckets)
	m.conntrackDeleted = prometheus.NewCounterVec(prometheus.CounterOpts(kp("conntrack_reconciler_deleted_entries_total", "Cumulative stale conntrack entries deleted.")), []string{ipFamily})
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubernetes_build_info",
		Help: "A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which ipvs-proxy was built, and platform on which it is running."},
		[]string{"major", "minor", "git_version", "git_commit", "git_tree_state", "build_date", "go_version", "compiler", "platform"})
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
		m.noLocal, m.conntrackDuration, m.conntrackDeleted, m.buildInfo, m.endpointPending, m.endpointTotal, m.servicePending, m.serviceTotal, m.healthz, m.livez,
		m.virtualServers, m.realServers, m.draining, m.drainsStarted, m.drainsFinished, m.kernelErrors, m.objectErrors, m.kernelWrites,
		m.sysctlDrift, m.syncs, m.configWarnings, m.serviceProblemsTotal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(clientGo().collectors()...)
	return m
}

// ipFamily is kube-proxy's label for the IP family of a per-family series.
const ipFamily = "ip_family"

// SetFamilies sets the IP families the node proxies ("IPv4", "IPv6"), each
// of which gets its own series from then on; the series of a family no
// longer proxied are removed.
func (m *Metrics) SetFamilies(families []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.families {
		if !slices.Contains(families, f) {
			for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.syncDuration, m.syncFullDuration,
				m.syncPartialDuration, m.lastSync, m.lastQueued, m.programming, m.noLocal, m.conntrackDuration, m.conntrackDeleted} {
				v.DeletePartialMatch(prometheus.Labels{ipFamily: f})
			}
		}
	}
	m.families = slices.Clone(families)
	if !m.queuedAt.IsZero() {
		m.setQueued()
	}
}

// perFamily returns the families the node proxies.
func (m *Metrics) perFamily() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.families
}

// SetBuildInfo publishes kubernetes_build_info with the binary's version;
// BuildInfo has the fields of the daemon's version.Info, in its order, so
// that one converts to the other.
func (m *Metrics) SetBuildInfo(i BuildInfo) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(i.Major, i.Minor, i.GitVersion, i.GitCommit, i.GitTreeState, i.BuildDate, i.GoVersion, i.Compiler, i.Platform).Set(1)
}

// BuildInfo are the labels of kubernetes_build_info, as
// k8s.io/component-base/version.Info names them.
type BuildInfo struct {
	Major, Minor, GitVersion, GitCommit, GitTreeState, BuildDate string
	GoVersion, Compiler, Platform                                string
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
	for _, f := range m.perFamily() {
		m.syncDuration.WithLabelValues(f).Observe(d.Seconds())
		if typ == SyncFull {
			m.syncFullDuration.WithLabelValues(f).Observe(d.Seconds())
		} else {
			m.syncPartialDuration.WithLabelValues(f).Observe(d.Seconds())
		}
		if !failed {
			m.lastSync.WithLabelValues(f).Set(float64(now.UnixNano()) / 1e9)
		}
	}
	result := "ok"
	if failed {
		result = "failed"
	}
	m.syncs.WithLabelValues(typ, result).Inc()
	m.kernelWrites.Add(float64(writes))
}

// Queued records that a sync was queued; before SetFamilies it is kept
// for the families set then.
func (m *Metrics) Queued(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queuedAt = now
	m.setQueued()
}

func (m *Metrics) setQueued() {
	for _, f := range m.families {
		m.lastQueued.WithLabelValues(f).Set(float64(m.queuedAt.UnixNano()) / 1e9)
	}
}

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

// Programmed observes network programming latency for trigger times, in
// each family the node proxies (one sync programmed them all).
func (m *Metrics) Programmed(now time.Time, triggers []time.Time) {
	families := m.perFamily()
	for _, t := range triggers {
		if !t.IsZero() && !now.Before(t) {
			for _, f := range families {
				m.programming.WithLabelValues(f).Observe(now.Sub(t).Seconds())
			}
		}
	}
}

// NoLocalEndpoints sets, per family index (0 IPv4, 1 IPv6, as
// proxier.ServiceState.NoLocal), the services whose internal and external
// Local traffic policy finds no endpoint on this node.
func (m *Metrics) NoLocalEndpoints(internal, external [2]int) {
	for _, f := range m.perFamily() {
		i := 0
		if f == "IPv6" {
			i = 1
		}
		m.noLocal.WithLabelValues("internal", f).Set(float64(internal[i]))
		m.noLocal.WithLabelValues("external", f).Set(float64(external[i]))
	}
}

// ConntrackCleared implements reconcile.Metrics.
func (m *Metrics) ConntrackCleared(family string, d time.Duration, deleted int) {
	m.conntrackDuration.WithLabelValues(family).Observe(d.Seconds())
	m.conntrackDeleted.WithLabelValues(family).Add(float64(deleted))
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
