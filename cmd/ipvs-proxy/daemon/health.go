package daemon

import (
	"context"
	"fmt"
	"net"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// health ties the proxy health server (/healthz, /livez) and the
// health-check node port servers to the daemon.
type health struct {
	cfg      Config
	proxy    *healthcheck.ProxyServer
	services *healthcheck.ServiceServers
	serving  bool
}

// newHealth opens the healthz listener ("" disables it), so that a bind
// error fails start-up rather than a background goroutine.
func newHealth(ctx context.Context, cfg Config, clk clock.PassiveClock, m *metrics.Metrics) (*health, error) {
	pc := healthcheck.ProxyConfig{
		BindAddress: cfg.HealthzBindAddress,
		Timeout:     healthcheck.TimeoutForSyncPeriod(cfg.SyncPeriod),
		IPFamilies:  []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol},
		Clock:       clk,
		Metrics:     m,
	}
	if cfg.HealthzBindAddress != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HealthzBindAddress)
		if err != nil {
			return nil, fmt.Errorf("listening for healthz on %s: %w", cfg.HealthzBindAddress, err)
		}
		pc.Listener = ln
	}
	proxy := healthcheck.NewProxyServer(pc)
	return &health{cfg: cfg, proxy: proxy, serving: pc.Listener != nil,
		services: healthcheck.NewServiceServers(healthcheck.ServiceConfig{Proxy: proxy})}, nil
}

// start serves healthz in the background. The proxy counts as updated now,
// as kube-proxy does when its loop starts, so a first sync that never
// succeeds turns /healthz 503 after the health timeout.
func (h *health) start(ctx context.Context) {
	h.proxy.Updated()
	if !h.serving {
		return
	}
	go func() {
		if err := h.proxy.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Healthz server stopped")
		}
	}()
}

func (h *health) queued()                { h.proxy.QueuedUpdate() }
func (h *health) updated()               { h.proxy.Updated() }
func (h *health) syncNode(node *v1.Node) { h.proxy.SyncNode(node) }
func (h *health) lameDuck()              { h.proxy.StartLameDuck() }

// syncServices opens and closes the health-check node ports and updates
// their local endpoint counts.
func (h *health) syncServices(ctx context.Context, hc map[types.NamespacedName]reconcile.HealthCheck) {
	ports := make(map[types.NamespacedName]uint16, len(hc))
	counts := make(map[types.NamespacedName]int, len(hc))
	for name, c := range hc {
		ports[name], counts[name] = c.Port, c.LocalEndpoints
	}
	if err := h.services.SyncServices(ports); err != nil {
		klog.FromContext(ctx).Error(err, "Failed to open some health-check node ports")
	}
	h.services.SyncEndpoints(counts)
}

// stop closes every health-check node port.
func (h *health) stop() { _ = h.services.SyncServices(nil) }
