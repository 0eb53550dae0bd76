package monitoring

import (
	"maps"
	"testing"
)

// mixinQueries are the PromQL expressions of the kubernetes-mixin that
// concern kube-proxy, as the mixin renders them with its default config
// (kubeProxySelector job="kube-proxy", clusterLabel cluster,
// grafanaIntervalVar $__rate_interval). Source:
// github.com/kubernetes-monitoring/kubernetes-mixin at aa38e2bfa7ea
// (2026-08-06): dashboards/proxy.libsonnet (the "Kubernetes / Proxy"
// dashboard: its panels and variables), alerts/kube_proxy.libsonnet with
// lib/absent_alert.libsonnet and lib/instance_unreachable_alert.libsonnet
// (KubeProxyDown, KubeProxyInstanceUnreachable), and
// alerts/system_alerts.libsonnet (KubeClientErrors; its default selector is
// kubeApiserverSelector, job="apiserver": it covers kube-proxy's client
// when a deployment points it at kube-proxy's job, as below).
var mixinQueries = []query{
	{where: "Proxy: variable cluster", expr: `up{job="kube-proxy"}`},
	{where: "Proxy: variable instance", expr: `up{job="kube-proxy", cluster="$cluster", job="kube-proxy"}`},
	{where: "Proxy: Up", expr: `sum(up{cluster="$cluster", job="kube-proxy"})`},
	{where: "Proxy: Rules Sync Rate", expr: `sum(rate(kubeproxy_sync_proxy_rules_duration_seconds_count{cluster="$cluster", job="kube-proxy", instance=~"$instance"}[$__rate_interval]))`},
	{where: "Proxy: Rules Sync Latency 99th Quantile", expr: `histogram_quantile(0.99,rate(kubeproxy_sync_proxy_rules_duration_seconds_bucket{cluster="$cluster", job="kube-proxy", instance=~"$instance"}[$__rate_interval]))`},
	{where: "Proxy: Network Programming Rate", expr: `sum(rate(kubeproxy_network_programming_duration_seconds_count{cluster="$cluster", job="kube-proxy", instance=~"$instance"}[$__rate_interval]))`},
	{where: "Proxy: Network Programming Latency 99th Quantile", expr: `histogram_quantile(0.99, sum(rate(kubeproxy_network_programming_duration_seconds_bucket{cluster="$cluster", job="kube-proxy", instance=~"$instance"}[$__rate_interval])) by (instance, le))`},
	{where: "Proxy: Kube API Request Rate 2xx", expr: `sum(rate(rest_client_requests_total{cluster="$cluster",job="kube-proxy", instance=~"$instance",code=~"2.."}[$__rate_interval]))`},
	{where: "Proxy: Kube API Request Rate 3xx", expr: `sum(rate(rest_client_requests_total{cluster="$cluster",job="kube-proxy", instance=~"$instance",code=~"3.."}[$__rate_interval]))`},
	{where: "Proxy: Kube API Request Rate 4xx", expr: `sum(rate(rest_client_requests_total{cluster="$cluster",job="kube-proxy", instance=~"$instance",code=~"4.."}[$__rate_interval]))`},
	{where: "Proxy: Kube API Request Rate 5xx", expr: `sum(rate(rest_client_requests_total{cluster="$cluster",job="kube-proxy", instance=~"$instance",code=~"5.."}[$__rate_interval]))`},
	{where: "Proxy: Post Request Latency 99th Quantile", expr: `histogram_quantile(0.99, sum(rate(rest_client_request_duration_seconds_bucket{cluster="$cluster", job="kube-proxy",instance=~"$instance",verb="POST"}[$__rate_interval])) by (verb, le))`},
	{where: "Proxy: Get Request Latency 99th Quantile", expr: `histogram_quantile(0.99, sum(rate(rest_client_request_duration_seconds_bucket{cluster="$cluster", job="kube-proxy", instance=~"$instance", verb="GET"}[$__rate_interval])) by (verb, le))`},
	{where: "Proxy: Memory", expr: `process_resident_memory_bytes{cluster="$cluster", job="kube-proxy",instance=~"$instance"}`},
	{where: "Proxy: CPU usage", expr: `rate(process_cpu_seconds_total{cluster="$cluster", job="kube-proxy",instance=~"$instance"}[$__rate_interval])`},
	{where: "Proxy: Goroutines", expr: `go_goroutines{cluster="$cluster", job="kube-proxy",instance=~"$instance"}`},
	{where: "alert KubeProxyDown", expr: `absent(up{job="kube-proxy"})`},
	{where: "alert KubeProxyInstanceUnreachable", expr: `up{job="kube-proxy"} == 0`},
	{where: "alert KubeClientErrors (job kube-proxy)", expr: `(sum(rate(rest_client_requests_total{job="kube-proxy",code=~"5.."}[5m])) by (cluster, instance, job, namespace)
  /
sum(rate(rest_client_requests_total{job="kube-proxy"}[5m])) by (cluster, instance, job, namespace))
> 0.01`},
}

// mixinTargetLabels are the labels a kube-prometheus style setup adds to
// every kube-proxy series besides job and instance: namespace (Kubernetes
// service discovery) and cluster (external labels, in multi-cluster
// setups).
var mixinTargetLabels = []string{"cluster", "namespace"}

// TestMixinProxyQueries checks the kubernetes-mixin's kube-proxy dashboard
// and alert queries against the series the daemon registers, with the same
// checks as our own dashboard's: every metric they select exists, with the
// labels they match and group by.
func TestMixinProxyQueries(t *testing.T) {
	reg := maps.Clone(registered(t))
	for name, s := range reg {
		labels := maps.Clone(s.labels)
		for _, l := range mixinTargetLabels {
			labels[l] = nil
		}
		reg[name] = exposed{labels: labels}
	}
	for _, q := range mixinQueries {
		if err := checkQuery(reg, q); err != nil {
			t.Errorf("%s: %s\n%v", q.where, q.expr, err)
		}
	}
}
