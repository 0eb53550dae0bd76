package healthcheck_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
)

// The daemon marks queued changes and completed syncs; /healthz turns 503
// when a change waits longer than the timeout, and during the lame duck.
func ExampleProxyServer() {
	clock := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	metrics := &healthcheck.Recorder{}
	hs := healthcheck.NewProxyServer(healthcheck.ProxyConfig{
		Timeout: healthcheck.TimeoutForSyncPeriod(30 * time.Second),
		Clock:   clock,
		Metrics: metrics,
	})
	get := func(path string) {
		rec := httptest.NewRecorder()
		hs.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code, rec.Body.String())
	}

	hs.Updated() // the sync loop started
	clock.Step(10 * time.Second)
	get("/healthz")

	hs.QueuedUpdate() // a change arrived, and no sync succeeds for a minute
	clock.Step(time.Minute)
	get("/healthz")

	hs.Updated()
	hs.StartLameDuck() // SIGTERM
	get("/healthz")
	get("/livez")
	fmt.Println("healthz answers:", metrics.Healthz())
	// Output:
	// /healthz 200 {"lastUpdated":"2026-01-02T03:04:15Z","currentTime":"2026-01-02T03:04:15Z","nodeEligible":true,"healthy":true,"status":{"IPv4":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":true}}}
	// /healthz 503 {"lastUpdated":"2026-01-02T03:04:05Z","currentTime":"2026-01-02T03:05:15Z","nodeEligible":true,"healthy":false,"status":{"IPv4":{"lastUpdated":"2026-01-02T03:04:05Z","healthy":false}}}
	// /healthz 503 {"lastUpdated":"2026-01-02T03:05:15Z","currentTime":"2026-01-02T03:05:15Z","nodeEligible":true,"healthy":true,"status":{"IPv4":{"lastUpdated":"2026-01-02T03:05:15Z","healthy":true}},"lameDuck":true}
	// /livez 200 {"lastUpdated":"2026-01-02T03:05:15Z","currentTime":"2026-01-02T03:05:15Z","healthy":true,"status":{"IPv4":{"lastUpdated":"2026-01-02T03:05:15Z","healthy":true}}}
	// healthz answers: map[200:1 503:2]
}

// One server per healthCheckNodePort answers the cloud load balancer's
// probes for a service with externalTrafficPolicy Local.
func ExampleServiceServers() {
	hs := healthcheck.NewProxyServer(healthcheck.ProxyConfig{})
	servers := healthcheck.NewServiceServers(healthcheck.ServiceConfig{
		Addresses: []string{"127.0.0.1"}, // the node addresses; nil or "" binds all
		Proxy:     hs,
	})
	port := freePort()
	web := types.NamespacedName{Namespace: "shop", Name: "web"}

	if err := servers.SyncServices(map[types.NamespacedName]uint16{web: port}); err != nil {
		fmt.Println(err)
		return
	}
	probe := func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode)
		fmt.Println(string(body))
	}
	probe() // no endpoints yet
	servers.SyncEndpoints(map[types.NamespacedName]int{web: 2})
	probe()

	_ = servers.SyncServices(nil) // closes every server
	// Output:
	// 503
	// {
	// 	"service": {
	// 		"namespace": "shop",
	// 		"name": "web"
	// 	},
	// 	"localEndpoints": 0,
	// 	"serviceProxyHealthy": true
	// }
	// 200
	// {
	// 	"service": {
	// 		"namespace": "shop",
	// 		"name": "web"
	// 	},
	// 	"localEndpoints": 2,
	// 	"serviceProxyHealthy": true
	// }
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort() uint16 {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
