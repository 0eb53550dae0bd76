package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
)

func serveGet(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestMetricsServerProfiling(t *testing.T) {
	for _, tc := range []struct {
		profiling bool
		path      string
		want      int
	}{
		{false, "/metrics", http.StatusOK},
		{false, "/debug/pprof/heap", http.StatusNotFound},
		{true, "/debug/pprof/heap", http.StatusOK},
		{true, "/debug/pprof/", http.StatusOK},
	} {
		if rec := serveGet(metricsMux(metrics.New(), tc.profiling, nil), tc.path); rec.Code != tc.want {
			t.Errorf("profiling=%v GET %s = %d, want %d", tc.profiling, tc.path, rec.Code, tc.want)
		}
	}
}

// TestMetricsServerKubeProxyPaths checks the paths kube-proxy's metrics
// server answers besides /metrics (cmd/kube-proxy/app/server.go,
// serveMetrics), with the bodies and content types of kube-proxy v1.37.2:
// the apiserver healthz handler with its ping check, /proxyMode, and an
// unknown path.
func TestMetricsServerKubeProxyPaths(t *testing.T) {
	const text = "text/plain; charset=utf-8"
	for _, tc := range []struct {
		path, body, contentType string
		code                    int
	}{
		{"/healthz", "ok", text, http.StatusOK},
		{"/healthz?verbose", "[+]ping ok\nhealthz check passed\n", text, http.StatusOK},
		{"/healthz?verbose&exclude=ping", "[+]ping excluded: ok\nhealthz check passed\n", text, http.StatusOK},
		{"/healthz?verbose&exclude=b&exclude=a&exclude=b", "[+]ping ok\n" +
			"warn: some health checks cannot be excluded: no matches for \"a\",\"b\"\nhealthz check passed\n", text, http.StatusOK},
		{"/healthz/ping", "ok", "", http.StatusOK},
		{"/proxyMode", "ipvs", text, http.StatusOK},
		{"/nowhere", "404 page not found\n", text, http.StatusNotFound},
	} {
		rec := serveGet(metricsMux(metrics.New(), false, nil), tc.path)
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
		if ct := rec.Header().Get("Content-Type"); tc.contentType != "" && ct != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, tc.contentType)
		}
	}
}

// TestMetricsServerConfigz checks /configz: a JSON object of the
// configurations by name, kube-proxy's under "kubeproxy.config.k8s.io" with
// its apiVersion and kind, so that a client decoding kube-proxy's reads it.
func TestMetricsServerConfigz(t *testing.T) {
	kp := kubeproxy.KubeProxyConfiguration{Mode: "ipvs", MetricsBindAddress: "127.0.0.1:10249"}
	kp.APIVersion, kp.Kind = "kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"
	kp.IPVS.Scheduler = "rr"
	rec := serveGet(metricsMux(metrics.New(), false, map[string]any{kubeproxy.GroupName: kp}), "/configz")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /configz = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got map[string]kubeproxy.KubeProxyConfiguration
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("/configz is not a map of configurations: %v\n%s", err, rec.Body.String())
	}
	if d := cmp.Diff(map[string]kubeproxy.KubeProxyConfiguration{kubeproxy.GroupName: kp}, got); d != "" {
		t.Errorf("/configz (-want +got):\n%s", d)
	}
	if !strings.Contains(rec.Body.String(), `"kind":"KubeProxyConfiguration"`) {
		t.Errorf("/configz has no kind: %s", rec.Body.String())
	}
}
