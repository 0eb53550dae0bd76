package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// Handler returns the handler of /healthz and /livez, for Run or for a
// server the caller owns.
func (s *ProxyServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealthz)
	mux.HandleFunc("/livez", s.serveLivez)
	return mux
}

func (s *ProxyServer) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	h := s.Health()
	s.mu.RLock()
	eligible, lameDuck := s.nodeEligible, s.lameDuck
	s.mu.RUnlock()
	h.NodeEligible = &eligible
	h.LameDuck = lameDuck
	status := answer(h.Healthy && eligible && !lameDuck, &h)
	s.cfg.Metrics.HealthzRequest(status)
	writeJSON(w, status, mustMarshal(h))
}

func (s *ProxyServer) serveLivez(w http.ResponseWriter, _ *http.Request) {
	h := s.Health()
	status := answer(h.Healthy, &h)
	s.cfg.Metrics.LivezRequest(status)
	writeJSON(w, status, mustMarshal(h))
}

// answer returns the HTTP status for ok and, for a 200, reports the current
// time as lastUpdated, as kube-proxy does (see ProxyHealth).
func answer(ok bool, h *ProxyHealth) int {
	if !ok {
		return http.StatusServiceUnavailable
	}
	h.LastUpdated = h.CurrentTime
	return http.StatusOK
}

// mustMarshal returns the compact JSON of h; a ProxyHealth always encodes.
func mustMarshal(h ProxyHealth) []byte {
	b, err := json.Marshal(h)
	if err != nil {
		panic(fmt.Sprintf("encoding ProxyHealth: %v", err))
	}
	return b
}

// writeJSON writes body as the JSON body of a status answer, with the headers
// kube-proxy sets on all its health answers.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// Run serves /healthz and /livez until ctx is done, then shuts the server
// down and returns nil. It returns an error when it cannot listen on
// BindAddress or when serving fails.
func (s *ProxyServer) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.BindAddress)
		if err != nil {
			return fmt.Errorf("listening for healthz on %s: %w", s.cfg.BindAddress, err)
		}
	}
	klog.FromContext(ctx).V(2).Info("Started healthz server", "address", ln.Addr().String())
	return serve(ctx, newHTTPServer(s.Handler()), ln)
}

// newHTTPServer returns a server for small health answers, with timeouts
// so that a stuck client cannot hold a connection open.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// serve serves ln with srv until ctx is done, then shuts srv down, giving
// answers in flight a second to finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if srv.Shutdown(shutdownCtx) != nil {
			_ = srv.Close() // answers still in flight after a second are cut
		}
	}()
	err := srv.Serve(ln)
	close(done)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving health checks on %s: %w", ln.Addr(), err)
}
