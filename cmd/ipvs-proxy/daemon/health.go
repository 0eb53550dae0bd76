package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
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
	// anyAddress is set when --nodeport-addresses selects every address:
	// the health-check node ports then listen on all addresses.
	anyAddress bool
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
	h := &health{cfg: cfg, proxy: proxy, serving: pc.Listener != nil, anyAddress: matchesAny(cfg.NodePortAddresses)}
	// Until the node's addresses are known a filtered health check listens
	// nowhere; none is open before the first sync anyway.
	h.services = healthcheck.NewServiceServers(healthcheck.ServiceConfig{Proxy: proxy, Addresses: h.addresses(nil)})
	return h, nil
}

// matchesAny reports whether --nodeport-addresses selects every address:
// no value, or only "all" and zero CIDRs.
func matchesAny(values []string) bool {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == addr.KeywordAll {
			continue
		}
		if p, err := netip.ParsePrefix(v); err != nil || p.Bits() != 0 {
			return false
		}
	}
	return true
}

// addresses returns where the health-check node ports listen, as
// kube-proxy's service health server does: on all addresses (nil) when
// --nodeport-addresses selects every address, else on the node addresses
// it selects (nodePortIPs, the addresses of the node-port virtual servers;
// none when it selects none). kube-proxy filters each IP family on its own
// and listens on all addresses of a family the flag leaves unfiltered; here
// such a family gets its selected addresses, loopback and link-local
// excluded, which are also the only ones its node ports are served on.
func (h *health) addresses(nodePortIPs []netip.Addr) []string {
	if h.anyAddress {
		return nil
	}
	out := make([]string, len(nodePortIPs))
	for i, ip := range nodePortIPs {
		out[i] = ip.String()
	}
	return out
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

// syncPorts moves the health-check node ports to the node-port addresses
// when they changed, then opens and closes them as the engine's health
// checks say (hc, when changed) and updates their local endpoint counts;
// with no change it retries the ports that could not be opened.
func (h *health) syncPorts(ctx context.Context, nodePortIPs []netip.Addr, hc map[types.NamespacedName]reconcile.HealthCheck, changed bool) {
	if err := h.services.SetAddresses(h.addresses(nodePortIPs)); err != nil {
		klog.FromContext(ctx).Error(err, "Failed to move some health-check node ports to the node-port addresses")
	}
	if !changed {
		h.services.Retry()
		return
	}
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
