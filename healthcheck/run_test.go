package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

var client = &http.Client{Timeout: 5 * time.Second}

// httpGet fetches url over the network and returns the status and body.
func httpGet(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// refused reports whether nothing listens on addr any more.
func refused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	conn.Close()
	return false
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRun serves on an injected 127.0.0.1 listener and stops with ctx.
func TestRun(t *testing.T) {
	ln := listenLocal(t)
	addr := ln.Addr().String()
	r := newRig(func(c *ProxyConfig) { c.Listener = ln })
	r.server.Updated()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.server.Run(ctx) }()

	status, body, h := httpGet(t, "http://"+addr+"/healthz")
	checkHeaders(t, h)
	var got ProxyHealth
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	if status != http.StatusOK || !got.Healthy || got.NodeEligible == nil || !*got.NodeEligible {
		t.Errorf("GET /healthz = %d %s, want 200 healthy and eligible", status, body)
	}
	r.server.StartLameDuck()
	if status, _, _ := httpGet(t, "http://"+addr+"/healthz"); status != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz in lame duck = %d, want 503", status)
	}
	if status, _, _ := httpGet(t, "http://"+addr+"/livez"); status != http.StatusOK {
		t.Errorf("GET /livez in lame duck = %d, want 200", status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !refused(addr) {
		t.Errorf("%s still accepts connections after Run returned", addr)
	}
	want := map[int]int{200: 1, 503: 1}
	if got := r.metrics.Healthz(); got[200] != want[200] || got[503] != want[503] {
		t.Errorf("healthz counts = %v, want %v", got, want)
	}
}

// TestRunBindAddress listens on BindAddress itself, and reports a port that
// is taken.
func TestRunBindAddress(t *testing.T) {
	taken := listenLocal(t)
	defer taken.Close()

	r := newRig(func(c *ProxyConfig) { c.BindAddress = taken.Addr().String() })
	err := r.server.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("Run on a taken port = %v, want an error naming %s", err, taken.Addr())
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Run error %v does not wrap the listen error", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r = newRig(func(c *ProxyConfig) { c.BindAddress = "127.0.0.1:0" })
	if err := r.server.Run(ctx); err != nil {
		t.Errorf("Run with a cancelled context = %v, want nil", err)
	}
}

// TestConcurrentUse runs the daemon's calls beside HTTP answers, for -race.
func TestConcurrentUse(t *testing.T) {
	r := newRig()
	services := NewServiceServers(ServiceConfig{Addresses: []string{"127.0.0.1"}, Proxy: r.server})
	port := freePorts(t, 1)[0]
	srv := httptest.NewServer(r.server.Handler())
	defer srv.Close()

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			r.server.QueuedUpdate()
			r.server.SyncNode(makeNode())
			r.server.Updated()
			services.SyncEndpoints(map[types.NamespacedName]int{web: i})
			if err := services.SyncServices(map[types.NamespacedName]uint16{web: port}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 50 {
			for _, path := range []string{"/healthz", "/livez"} {
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					t.Error(err) // not Fatal: this is not the test goroutine
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
				}
			}
		}
	})
	wg.Wait()
	if err := services.SyncServices(nil); err != nil {
		t.Error(err)
	}
	if got := r.metrics.Healthz()[200] + r.metrics.Livez()[200]; got != 100 {
		t.Errorf("counted %d answers, want 100", got)
	}
}
