package daemon

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
)

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
		rec := httptest.NewRecorder()
		metricsMux(metrics.New(), tc.profiling).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("profiling=%v GET %s = %d, want %d", tc.profiling, tc.path, rec.Code, tc.want)
		}
	}
}
