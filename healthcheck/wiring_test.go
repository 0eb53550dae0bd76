package healthcheck_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
)

// The daemon passes its Prometheus metrics as they are.
var _ healthcheck.Metrics = (*metrics.Metrics)(nil)

// TestPrometheusCounts wires the daemon's metrics as the daemon does and
// checks kube-proxy's counters in the exposition.
func TestPrometheusCounts(t *testing.T) {
	m := metrics.New()
	clock := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	hs := healthcheck.NewProxyServer(healthcheck.ProxyConfig{Clock: clock, Timeout: time.Minute, Metrics: m})
	get := func(path string) {
		hs.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	hs.Updated()
	get("/healthz")
	get("/livez")
	hs.QueuedUpdate()
	clock.Step(time.Minute)
	get("/healthz")
	get("/healthz")
	get("/livez")

	want := `
# HELP kubeproxy_proxy_healthz_total Cumulative proxy /healthz HTTP status codes.
# TYPE kubeproxy_proxy_healthz_total counter
kubeproxy_proxy_healthz_total{code="200"} 1
kubeproxy_proxy_healthz_total{code="503"} 2
# HELP kubeproxy_proxy_livez_total Cumulative proxy /livez HTTP status codes.
# TYPE kubeproxy_proxy_livez_total counter
kubeproxy_proxy_livez_total{code="200"} 1
kubeproxy_proxy_livez_total{code="503"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"kubeproxy_proxy_healthz_total", "kubeproxy_proxy_livez_total"); err != nil {
		t.Error(err)
	}
}
