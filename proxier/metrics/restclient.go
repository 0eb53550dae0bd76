package metrics

import (
	"context"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// restClient holds client-go's rest_client_* families with the names,
// types, labels and buckets kube-proxy registers through
// k8s.io/component-base/metrics/prometheus/restclient, which fills client-go's
// hooks (k8s.io/client-go/tools/metrics) with its adapters.
//
// We implement those hooks on client_golang directly rather than import the
// adapter: it registers into component-base's global legacyregistry (which
// brings its own Go and process collectors, clashing with ours) and pulls
// in component-base's metrics framework (stability levels, version
// parsing) for fourteen collectors.
//
// client-go's hooks are process-wide and can be set once, so the collectors
// are too: every Metrics registry registers the same ones.
type restClient struct {
	latency, rateLimiter, requestSize, responseSize *prometheus.HistogramVec
	results, retries                                *prometheus.CounterVec
	certTTL                                         prometheus.GaugeFunc
	certExpiry                                      *time.Time
	certMu                                          sync.Mutex
	certRotation                                    prometheus.Histogram
	execCalls                                       *prometheus.CounterVec
	cacheEntries                                    prometheus.Gauge
	createCalls, caReloads, cacheGCCalls            *prometheus.CounterVec
	certRotationGCCalls                             prometheus.Counter
}

var (
	restClientOnce sync.Once
	restClientSet  *restClient
)

// clientGo returns the process's rest_client_* collectors, installing them
// as client-go's hooks on first use.
func clientGo() *restClient {
	restClientOnce.Do(func() {
		restClientSet = newRESTClient()
		restClientSet.install()
	})
	return restClientSet
}

// Buckets of component-base's restclient adapter.
var (
	latencyBuckets  = []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0}
	sizeBuckets     = []float64{64, 256, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216}
	rotationBuckets = []float64{600, 1800, 3600, 14400, 86400, 604800, 2592000, 7776000, 15552000, 31104000, 124416000}
)

func newRESTClient() *restClient {
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	r := &restClient{
		latency:      hist("rest_client_request_duration_seconds", "Request latency in seconds. Broken down by verb, and host.", latencyBuckets, "verb", "host"),
		rateLimiter:  hist("rest_client_rate_limiter_duration_seconds", "Client side rate limiter latency in seconds. Broken down by verb, and host.", latencyBuckets, "verb", "host"),
		requestSize:  hist("rest_client_request_size_bytes", "Request size in bytes. Broken down by verb and host.", sizeBuckets, "verb", "host"),
		responseSize: hist("rest_client_response_size_bytes", "Response size in bytes. Broken down by verb and host.", sizeBuckets, "verb", "host"),
		results:      counter("rest_client_requests_total", "Number of HTTP requests, partitioned by status code, method, and host.", "code", "method", "host"),
		retries:      counter("rest_client_request_retries_total", "Number of request retries, partitioned by status code, verb, and host.", "code", "verb", "host"),
		certRotation: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rest_client_exec_plugin_certificate_rotation_age",
			Help: "Histogram of the number of seconds the last auth exec plugin client certificate lived before being rotated.", Buckets: rotationBuckets}),
		execCalls: counter("rest_client_exec_plugin_call_total", "Number of calls to an exec plugin, partitioned by the type of event encountered and an optional exit code.", "code", "call_status"),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rest_client_transport_cache_entries",
			Help: "Number of transport entries in the internal cache."}),
		createCalls:  counter("rest_client_transport_create_calls_total", "Number of calls to get a new transport, partitioned by the result of the operation.", "result"),
		caReloads:    counter("rest_client_transport_ca_reload_total", "Number of times a CA reload is attempted, partitioned by the result and reason for the reload attempt.", "result", "reason"),
		cacheGCCalls: counter("rest_client_transport_cache_gc_calls_total", "Number of times a GC cleanup attempts to delete a transport cache entry, partitioned by the result.", "result"),
		certRotationGCCalls: prometheus.NewCounter(prometheus.CounterOpts{Name: "rest_client_transport_cert_rotation_gc_calls_total",
			Help: "Number of times a cert rotation goroutine cancel func is called via GC cleanup of the associated transport."}),
	}
	r.certTTL = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rest_client_exec_plugin_ttl_seconds",
		Help: "Gauge of the shortest TTL (time-to-live) of the client certificate(s) managed by the auth exec plugin, in seconds until expiry; +Inf without one."},
		r.ttl)
	return r
}

// collectors are what every registry registers.
func (r *restClient) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.latency, r.rateLimiter, r.requestSize, r.responseSize, r.results, r.retries, r.certTTL,
		r.certRotation, r.execCalls, r.cacheEntries, r.createCalls, r.caReloads, r.cacheGCCalls, r.certRotationGCCalls}
}

func (r *restClient) ttl() float64 {
	r.certMu.Lock()
	defer r.certMu.Unlock()
	if r.certExpiry == nil {
		return math.Inf(1)
	}
	return time.Until(*r.certExpiry).Seconds()
}

// install sets client-go's hooks. The resolver-latency and exec-policy
// hooks stay client-go's no-ops: kube-proxy registers neither family.
func (r *restClient) install() {
	clientmetrics.Register(clientmetrics.RegisterOpts{
		ClientCertExpiry:             expiryHook{r},
		ClientCertRotationAge:        durationHook{r.certRotation},
		RequestLatency:               latencyHook{r.latency},
		RateLimiterLatency:           latencyHook{r.rateLimiter},
		RequestSize:                  sizeHook{r.requestSize},
		ResponseSize:                 sizeHook{r.responseSize},
		RequestResult:                resultHook{r.results},
		RequestRetry:                 retryHook{r.retries},
		ExecPluginCalls:              callsHook{r.execCalls},
		TransportCacheEntries:        gaugeHook{r.cacheEntries},
		TransportCreateCalls:         labelHook{r.createCalls},
		TransportCAReloads:           reloadHook{r.caReloads},
		TransportCertRotationGCCalls: counterHook{r.certRotationGCCalls},
		TransportCacheGCCalls:        labelHook{r.cacheGCCalls},
	})
}

type expiryHook struct{ r *restClient }

func (h expiryHook) Set(expiry *time.Time) {
	h.r.certMu.Lock()
	defer h.r.certMu.Unlock()
	h.r.certExpiry = expiry
}

type durationHook struct{ h prometheus.Histogram }

func (h durationHook) Observe(d time.Duration) { h.h.Observe(d.Seconds()) }

type latencyHook struct{ h *prometheus.HistogramVec }

func (h latencyHook) Observe(_ context.Context, verb string, u url.URL, d time.Duration) {
	h.h.WithLabelValues(verb, u.Host).Observe(d.Seconds())
}

type sizeHook struct{ h *prometheus.HistogramVec }

func (h sizeHook) Observe(_ context.Context, verb, host string, size float64) {
	h.h.WithLabelValues(verb, host).Observe(size)
}

type resultHook struct{ c *prometheus.CounterVec }

func (h resultHook) Increment(_ context.Context, code, method, host string) {
	h.c.WithLabelValues(code, method, host).Inc()
}

type retryHook struct{ c *prometheus.CounterVec }

func (h retryHook) IncrementRetry(_ context.Context, code, method, host string) {
	h.c.WithLabelValues(code, method, host).Inc()
}

type callsHook struct{ c *prometheus.CounterVec }

func (h callsHook) Increment(code int, status string) {
	h.c.WithLabelValues(strconv.Itoa(code), status).Inc()
}

type gaugeHook struct{ g prometheus.Gauge }

func (h gaugeHook) Observe(v int) { h.g.Set(float64(v)) }

type labelHook struct{ c *prometheus.CounterVec }

func (h labelHook) Increment(result string) { h.c.WithLabelValues(result).Inc() }

type reloadHook struct{ c *prometheus.CounterVec }

func (h reloadHook) Increment(result, reason string) { h.c.WithLabelValues(result, reason).Inc() }

type counterHook struct{ c prometheus.Counter }

func (h counterHook) Increment() { h.c.Inc() }
