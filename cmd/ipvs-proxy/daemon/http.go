package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
)

// serveMetrics serves the metrics server on cfg.MetricsBindAddress ("" disables)
// until ctx is done.
func serveMetrics(ctx context.Context, cfg *Config, m *metrics.Metrics) error {
	if cfg.MetricsBindAddress == "" {
		return nil
	}
	return serve(ctx, cfg.MetricsBindAddress, metricsMux(m, cfg.Profiling, cfg.Configz), "metrics")
}

// ProxyMode is what /proxyMode answers, as kube-proxy --proxy-mode=ipvs.
const ProxyMode = "ipvs"

// metricsMux is the metrics server's handler, with kube-proxy's paths
// (cmd/kube-proxy/app/server.go, serveMetrics): /metrics; /healthz and
// /healthz/ping, the apiserver healthz handler with its only check, ping,
// which says the server answers (the proxy's health is the health server's);
// /proxyMode; /configz, the component configurations by name (configz);
// and Go's profiling handlers under /debug/pprof/ with profiling set.
func metricsMux(m *metrics.Metrics, profiling bool, configz map[string]any) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", pingHealthz)
	mux.HandleFunc("/healthz/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/proxyMode", func(w http.ResponseWriter, _ *http.Request) {
		plainText(w)
		fmt.Fprint(w, ProxyMode)
	})
	mux.HandleFunc("/configz", func(w http.ResponseWriter, _ *http.Request) {
		b, err := json.Marshal(configz)
		if err != nil {
			http.Error(w, fmt.Sprintf("error marshaling json: %v", err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func plainText(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// pingHealthz answers as k8s.io/apiserver's healthz handler does with the
// ping check alone: "ok", or with ?verbose the check list, honouring
// ?exclude=.
func pingHealthz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	plainText(w)
	if _, verbose := q["verbose"]; !verbose {
		fmt.Fprint(w, "ok")
		return
	}
	var out strings.Builder
	// Unknown names are listed sorted and once, as the apiserver's set does.
	unknown := slices.DeleteFunc(slices.Clone(q["exclude"]), func(e string) bool { return e == "ping" })
	excluded := len(unknown) < len(q["exclude"])
	slices.Sort(unknown)
	unknown = slices.Compact(unknown)
	for i, u := range unknown {
		unknown[i] = strconv.Quote(u)
	}
	if excluded {
		out.WriteString("[+]ping excluded: ok\n")
	} else {
		out.WriteString("[+]ping ok\n")
	}
	if len(unknown) > 0 {
		fmt.Fprintf(&out, "warn: some health checks cannot be excluded: no matches for %s\n", strings.Join(unknown, ","))
	}
	out.WriteString("healthz check passed\n")
	fmt.Fprint(w, out.String())
}

// serve listens on addr and serves h in the background until ctx is done.
func serve(ctx context.Context, addr string, h http.Handler, what string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for %s on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.FromContext(ctx).Error(err, "Server stopped", "server", what, "address", addr)
		}
	}()
	return nil
}
