// Package healthcheck serves the health checks of the proxy: /healthz and
// /livez for the node (kubelet probes, cloud load balancers of
// externalTrafficPolicy Cluster services) and one HTTP server per
// healthCheckNodePort for the services with externalTrafficPolicy Local.
// It follows kube-proxy's pkg/proxy/healthcheck: same rules, status codes,
// headers and JSON bodies, so probes and dashboards written for kube-proxy
// keep working.
//
// Data flows in from the daemon and out to HTTP clients:
//
//	tracker has pending changes ─► ProxyServer.QueuedUpdate ─┐
//	sync completed, nothing failed ─► ProxyServer.Updated ───┤
//	node informer ─► ProxyServer.SyncNode ───────────────────┼─► /healthz, /livez
//	SIGTERM ─► ProxyServer.StartLameDuck ────────────────────┘
//	                                  │ IsHealthy, LameDuck (ProxyState)
//	                                  ▼
//	eTP Local services ─► ServiceServers.SyncServices ─────┬─► one server per
//	local ready endpoints ─► ServiceServers.SyncEndpoints ─┤   healthCheckNodePort
//	node-port addresses ─► ServiceServers.SetAddresses ────┘   and address
//
// The rules (kube-proxy's, except the lame duck):
//
//   - The proxy is unhealthy when an update has been queued for Timeout
//     (kube-proxy: twice the sync period) without a successful sync since.
//     The timeout runs from the oldest pending update, not from the last
//     sync: a proxy idle for an hour is healthy, and becomes unhealthy
//     only when a change waits too long. Before the first Updated it is
//     healthy.
//   - /healthz also fails while the node is being deleted or carries the
//     ToBeDeletedByClusterAutoscaler taint (KEP-3836), so load balancers
//     drain the node before it goes; /livez ignores the node, so the
//     kubelet does not restart a proxy that is working.
//   - A service health check answers 200 when the service has ready
//     endpoints on this node and the proxy is healthy, else 503.
//   - Service health checks listen on the node addresses selected by
//     --nodeport-addresses, on all addresses when it selects every one; when
//     the selected addresses change, the listeners follow. A port that
//     cannot be bound on one address is closed on all, reported once and
//     retried; the other services are served meanwhile.
//   - Lame duck (our addition, after coredns' plugin/health): on SIGTERM
//     the daemon calls StartLameDuck, /healthz and every service health
//     check answer 503 for the lame-duck period while the proxy keeps
//     forwarding, then the process exits leaving the kernel rules in
//     place. /livez stays 200 so the kubelet does not kill it early.
//
// Requests to /healthz and /livez are counted through Metrics
// (kubeproxy_proxy_healthz_total and kubeproxy_proxy_livez_total). Time
// comes from an injected clock and listeners can be injected, so tests run
// on a fake clock and on 127.0.0.1.
package healthcheck
