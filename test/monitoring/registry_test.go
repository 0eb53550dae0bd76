package monitoring

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	clientmetrics "k8s.io/client-go/tools/metrics"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// exposed is what the daemon exposes under one series name: the label names
// and, per label, the values seen.
type exposed struct {
	labels map[string]map[string]bool
}

// targetLabels are the labels Prometheus adds to every scraped series;
// queries may use them on any metric.
var targetLabels = []string{"job", "instance"}

// prometheusSeries are series Prometheus itself writes for every target.
var prometheusSeries = []string{"up"}

// registered builds the daemon's registry (metrics.New, as the daemon
// does), gives every vector the label values the daemon's code uses, and
// returns the exposed series by name: a histogram's _bucket (with le),
// _sum and _count, a summary's own name (with quantile), _sum and _count.
func registered(t *testing.T) map[string]exposed {
	t.Helper()
	m := metrics.New()
	populate(m)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]exposed{}
	add := func(name string, ms []*dto.Metric, extra string) {
		s, ok := out[name]
		if !ok {
			s = exposed{labels: map[string]map[string]bool{}}
			out[name] = s
		}
		for _, l := range targetLabels {
			s.labels[l] = nil // any value
		}
		if extra != "" {
			s.labels[extra] = nil
		}
		for _, mt := range ms {
			for _, lp := range mt.GetLabel() {
				if s.labels[lp.GetName()] == nil {
					s.labels[lp.GetName()] = map[string]bool{}
				}
				s.labels[lp.GetName()][lp.GetValue()] = true
			}
		}
	}
	for _, f := range families {
		name := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			add(name+"_bucket", f.GetMetric(), "le")
			add(name+"_sum", f.GetMetric(), "")
			add(name+"_count", f.GetMetric(), "")
		case dto.MetricType_SUMMARY:
			add(name, f.GetMetric(), "quantile")
			add(name+"_sum", f.GetMetric(), "")
			add(name+"_count", f.GetMetric(), "")
		default:
			add(name, f.GetMetric(), "")
		}
	}
	for _, name := range prometheusSeries {
		add(name, nil, "")
	}
	return out
}

// populate records through every method the daemon reports with, with the
// label values its code uses (the reconcile package's constants), so that
// every vector has its series: a vector without children is not gathered.
func populate(m *metrics.Metrics) {
	now := time.Now()
	// The per-family series (ip_family) exist for the families the node
	// proxies, as the daemon sets them from its Node.
	m.SetFamilies([]string{string(v1.IPv4Protocol), string(v1.IPv6Protocol)})
	m.SetBuildInfo(metrics.BuildInfo{GitVersion: "v0.0.0"})
	for _, typ := range []string{metrics.SyncIncremental, metrics.SyncFull, metrics.SyncRepair} {
		m.SyncDone(typ, time.Millisecond, 1, false, now)
		m.SyncDone(typ, time.Millisecond, 1, true, now)
	}
	m.Queued(now)
	m.Changes(1, 1)
	m.Pending(1, 1)
	m.Programmed(now, []time.Time{now.Add(-time.Second)})
	m.State(1, 1, 1)
	m.DrainStarted()
	for _, r := range []reconcile.DrainReason{reconcile.DrainIdle, reconcile.DrainTimeout, reconcile.DrainGone,
		reconcile.DrainUDP, reconcile.DrainRevived, reconcile.DrainServiceGone} {
		m.DrainFinished(string(r))
	}
	m.ObjectErrors(map[string]int{reconcile.ReasonInvalid: 1, reconcile.ReasonSchedulerMissing: 1,
		reconcile.ReasonForeign: 1, reconcile.ReasonExhausted: 1})
	m.KernelError("list")
	m.SysctlDrift("net.ipv4.vs.conntrack")
	m.NoLocalEndpoints([2]int{1, 1}, [2]int{1, 1})
	m.ConntrackCleared(string(v1.IPv4Protocol), time.Millisecond, 1)
	// client-go's hooks, which metrics.New installs, as a list and a watch
	// call them.
	api := &url.URL{Scheme: "https", Host: "127.0.0.1:6443", Path: "/api/v1/services"}
	clientmetrics.RequestResult.Increment(context.Background(), "200", "GET", api.Host)
	clientmetrics.RequestLatency.Observe(context.Background(), "GET", *api, time.Millisecond)
	// The event sink creates Events (POST).
	events := &url.URL{Scheme: "https", Host: "127.0.0.1:6443", Path: "/api/v1/namespaces/default/events"}
	clientmetrics.RequestResult.Increment(context.Background(), "201", "POST", events.Host)
	clientmetrics.RequestLatency.Observe(context.Background(), "POST", *events, time.Millisecond)
	m.ConfigWarnings(1)
	m.ServiceProblems(1)
	// The health servers answer 200 or 503 (healthcheck package).
	for _, code := range []int{200, 503} {
		m.HealthzRequest(code)
		m.LivezRequest(code)
	}
}

// TestRegistered guards the view the query checks rely on: the families the
// daemon registers, with their labels, are all gathered.
func TestRegistered(t *testing.T) {
	reg := registered(t)
	for name, want := range map[string][]string{
		"ipvs_proxy_drains_finished_total":                   {"reason"},
		"ipvs_proxy_object_errors":                           {"reason"},
		"ipvs_proxy_syncs_total":                             {"type", "result"},
		"kubeproxy_sync_proxy_rules_duration_seconds_bucket": {"le", "ip_family"},
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds":  {"ip_family"},
		"rest_client_requests_total":                         {"code", "method", "host"},
		"rest_client_request_duration_seconds_bucket":        {"verb", "le"},
		"kubernetes_build_info":                              {"git_version"},
		"kubeproxy_proxy_healthz_total":                      {"code"},
		"process_start_time_seconds":                         {},
	} {
		s, ok := reg[name]
		if !ok {
			t.Errorf("%s is not gathered; have %v", name, slices.Sorted(maps.Keys(reg)))
			continue
		}
		for _, l := range want {
			if _, ok := s.labels[l]; !ok {
				t.Errorf("%s has no label %s", name, l)
			}
		}
	}
	if got := reg["ipvs_proxy_drains_finished_total"].labels["reason"]; !got["timeout"] || !got["connections-zero"] {
		t.Errorf("drain reasons gathered: %v", got)
	}
}
