package monitoring

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite manifests/monitoring/ipvs-proxy-dashboard.json from dashboardSpec and ../e2e/scenarios/testdata/mixin-series.txt from mixinQueries")

// sel is the selector every dashboard query carries: the job and instance
// variables.
const sel = `job=~"$job", instance=~"$instance"`

// rate is Grafana's rate window variable.
const rate = "[$__rate_interval]"

// target is one query of a panel: PromQL and its legend.
type target struct{ expr, legend string }

// panel is one dashboard panel; kind "row" starts a row.
type panel struct {
	kind, title, description, unit string
	targets                        []target
}

func row(title string) panel { return panel{kind: "row", title: title} }

func stat(title, unit, description, expr string) panel {
	return panel{kind: "stat", title: title, unit: unit, description: description, targets: []target{{expr: expr}}}
}

func graph(title, unit, description string, targets ...target) panel {
	return panel{kind: "timeseries", title: title, unit: unit, description: description, targets: targets}
}

// hq is a histogram quantile over a kubeproxy_* histogram, all selected
// nodes together.
func hq(q float64, histogram string) target {
	return target{
		expr:   fmt.Sprintf(`histogram_quantile(%g, sum by (le) (rate(%s_bucket{%s}%s)))`, q, histogram, sel, rate),
		legend: fmt.Sprintf("p%g", q*100),
	}
}

// dashboardSpec is the dashboard's content; dashboardJSON lays it out.
var dashboardSpec = []panel{
	row("Overview"),
	stat("Proxies up", "none", "Targets of the selected jobs that answered the last scrape.",
		`sum(up{`+sel+`})`),
	stat("Virtual servers", "none", "IPVS virtual servers programmed, all selected nodes.",
		`sum(ipvs_proxy_virtual_servers{`+sel+`})`),
	stat("Real servers", "none", "IPVS real servers programmed, all selected nodes.",
		`sum(ipvs_proxy_real_servers{`+sel+`})`),
	stat("Draining", "none", "Real servers at weight 0 whose endpoint vanished without terminating; each drains for at most --drain-timeout.",
		`sum(ipvs_proxy_destinations_draining{`+sel+`})`),
	stat("Failed objects", "none", "Kernel objects that failed and wait for a change of their Service (see the FailedToProgram events).",
		`sum(ipvs_proxy_object_errors{`+sel+`}) or vector(0)`),
	stat("Config warnings", "none", "Settings the daemon accepts but does not use (see its start-up log).",
		`max(ipvs_proxy_config_warnings{`+sel+`})`),
	panel{kind: "stat", title: "Versions", unit: "none", description: "Nodes by the version they run (kubernetes_build_info's git_version).",
		targets: []target{{`count by (git_version) (kubernetes_build_info{` + sel + `})`, "{{git_version}}"}}},

	row("Syncs"),
	graph("Syncs by type and result", "ops", "incremental: changed Services only; repair: one step of the paced periodic repair; full: everything at once.",
		target{`sum by (type, result) (rate(ipvs_proxy_syncs_total{` + sel + `}` + rate + `))`, "{{type}} {{result}}"}),
	graph("Sync duration", "s", "kube-proxy's SyncProxyRules latency: every sync, and full reconciles alone.",
		hq(0.5, "kubeproxy_sync_proxy_rules_duration_seconds"), hq(0.99, "kubeproxy_sync_proxy_rules_duration_seconds"),
		target{`histogram_quantile(0.99, sum by (le) (rate(kubeproxy_sync_full_proxy_rules_duration_seconds_bucket{` + sel + `}` + rate + `)))`, "p99 full"}),
	graph("Time since the last successful sync", "s", "As kube-proxy's /healthz measures it; the periodic repair keeps it below --ipvs-sync-period on a healthy node.",
		target{`time() - max by (instance) (kubeproxy_sync_proxy_rules_last_timestamp_seconds{` + sel + `})`, "{{instance}}"}),
	graph("Network programming latency", "s", "From an EndpointSlice's last-change-trigger-time to the kernel.",
		hq(0.5, "kubeproxy_network_programming_duration_seconds"), hq(0.99, "kubeproxy_network_programming_duration_seconds")),
	graph("Pending changes", "none", "Service and EndpointSlice changes waiting for the next sync.",
		target{`sum(kubeproxy_sync_proxy_rules_service_changes_pending{` + sel + `})`, "services"},
		target{`sum(kubeproxy_sync_proxy_rules_endpoint_changes_pending{` + sel + `})`, "endpoint slices"}),
	graph("Changes consumed", "ops", "Service and EndpointSlice updates taken by syncs.",
		target{`sum(rate(kubeproxy_sync_proxy_rules_service_changes_total{` + sel + `}` + rate + `))`, "services"},
		target{`sum(rate(kubeproxy_sync_proxy_rules_endpoint_changes_total{` + sel + `}` + rate + `))`, "endpoint slices"}),

	row("IPVS state"),
	graph("Virtual servers by node", "none", "",
		target{`sum by (instance) (ipvs_proxy_virtual_servers{` + sel + `})`, "{{instance}}"}),
	graph("Real servers by node", "none", "",
		target{`sum by (instance) (ipvs_proxy_real_servers{` + sel + `})`, "{{instance}}"}),
	graph("Failed objects by reason", "none", "invalid, scheduler-missing, foreign, retries-exhausted: docs/monitoring.md#ipvsproxyobjectsfailing.",
		target{`sum by (reason) (ipvs_proxy_object_errors{` + sel + `})`, "{{reason}}"}),

	row("Drains"),
	graph("Drains started and finished", "ops", "Finished by reason: connections-zero, timeout, endpoint-gone, udp, revived, service-gone.",
		target{`sum(rate(ipvs_proxy_drains_started_total{` + sel + `}` + rate + `))`, "started"},
		target{`sum by (reason) (rate(ipvs_proxy_drains_finished_total{` + sel + `}` + rate + `))`, "finished: {{reason}}"}),
	graph("Destinations draining by node", "none", "",
		target{`sum by (instance) (ipvs_proxy_destinations_draining{` + sel + `})`, "{{instance}}"}),
	stat("Drains ended by timeout", "none", "Drains cut at --drain-timeout with connections left, in the dashboard's time range: their clients got a reset.",
		`sum(increase(ipvs_proxy_drains_finished_total{`+sel+`, reason="timeout"}[$__range])) or vector(0)`),

	row("Kernel"),
	graph("Kernel writes", "wps", "IPVS, address and nftables write operations attempted.",
		target{`sum by (instance) (rate(ipvs_proxy_kernel_writes_total{` + sel + `}` + rate + `))`, "{{instance}}"}),
	graph("Kernel operation errors", "ops", "Transient errors are retried with backoff; refusals fail their object.",
		target{`sum by (operation) (rate(ipvs_proxy_kernel_operation_errors_total{` + sel + `}` + rate + `))`, "{{operation}}"}),
	graph("Repair steps and full reconciles", "ops", "The periodic drift repair, one paced step at a time, and full reconciles.",
		target{`sum by (type) (rate(ipvs_proxy_syncs_total{` + sel + `, type=~"repair|full"}` + rate + `))`, "{{type}}"}),
	graph("Sysctls reset", "none", "Required sysctls found changed by something else and set back.",
		target{`sum by (name) (increase(ipvs_proxy_sysctl_drift_total{` + sel + `}` + rate + `))`, "{{name}}"}),
	graph("Service and EndpointSlice defects", "ops", "Skipped parts of Services and EndpointSlices (see the events).",
		target{`sum(rate(ipvs_proxy_service_problems_total{` + sel + `}` + rate + `))`, "defects"}),

	row("API server and conntrack"),
	graph("API requests by code", "reqps", "client-go's requests to the API server (lists, watches, events).",
		target{`sum by (code) (rate(rest_client_requests_total{` + sel + `}` + rate + `))`, "{{code}}"}),
	graph("API request latency p99", "s", "",
		target{`histogram_quantile(0.99, sum by (verb, le) (rate(rest_client_request_duration_seconds_bucket{` + sel + `}` + rate + `)))`, "{{verb}}"}),
	graph("Stale UDP conntrack entries deleted", "ops", "Entries of deleted UDP destinations cleared after syncs.",
		target{`sum by (ip_family) (rate(kubeproxy_conntrack_reconciler_deleted_entries_total{` + sel + `}` + rate + `))`, "{{ip_family}}"}),
	graph("Local-policy services without local endpoints", "none", "Services with a Local traffic policy and no endpoint on the node while the cluster has some.",
		target{`sum by (traffic_policy) (kubeproxy_sync_proxy_rules_no_local_endpoints_total{` + sel + `})`, "{{traffic_policy}}"}),

	row("Health and process"),
	graph("/healthz and /livez answers", "reqps", "The proxy health server (load balancers' node check, the kubelet's probes): 503 while syncs are stale, the node is being deleted, or during the lame duck.",
		target{`sum by (code) (rate(kubeproxy_proxy_healthz_total{` + sel + `}` + rate + `))`, "healthz {{code}}"},
		target{`sum by (code) (rate(kubeproxy_proxy_livez_total{` + sel + `}` + rate + `))`, "livez {{code}}"}),
	graph("CPU", "percentunit", "",
		target{`sum by (instance) (rate(process_cpu_seconds_total{` + sel + `}` + rate + `))`, "{{instance}}"}),
	graph("Resident memory", "bytes", "",
		target{`sum by (instance) (process_resident_memory_bytes{` + sel + `})`, "{{instance}}"}),
	graph("Goroutines", "none", "",
		target{`sum by (instance) (go_goroutines{` + sel + `})`, "{{instance}}"}),
}

// dsRef is the panels' and queries' data source: the datasource variable.
var dsRef = map[string]any{"type": "prometheus", "uid": "${datasource}"}

// dashboardJSON lays the panels out (rows full width; stats 4 wide,
// time series 8 wide) and returns the dashboard.
func dashboardJSON(spec []panel) map[string]any {
	var panels []any
	x, y, h := 0, 0, 0
	for i, p := range spec {
		w, ph := 8, 8
		switch p.kind {
		case "row":
			w, ph = 24, 1
		case "stat":
			w, ph = 4, 4
		}
		if p.kind == "row" || x+w > 24 {
			x, y, h = 0, y+h, 0
		}
		panels = append(panels, panelJSON(i+1, p, map[string]int{"x": x, "y": y, "w": w, "h": ph}))
		x += w
		h = max(h, ph)
	}
	return map[string]any{
		"uid": "ipvs-proxy", "title": "ipvs-proxy", "tags": []string{"ipvs-proxy", "kube-proxy"},
		"description":   "ipvs-proxy's syncs, IPVS state, drains, kernel writes and health; see docs/monitoring.md.",
		"schemaVersion": 39, "version": 1, "editable": true, "graphTooltip": 1, "refresh": "30s",
		"time":        map[string]string{"from": "now-6h", "to": "now"},
		"annotations": map[string]any{"list": []any{}},
		"templating":  map[string]any{"list": variables()},
		"panels":      panels,
	}
}

func panelJSON(id int, p panel, pos map[string]int) map[string]any {
	out := map[string]any{"id": id, "type": p.kind, "title": p.title, "gridPos": pos}
	if p.kind == "row" {
		out["collapsed"] = false
		out["panels"] = []any{}
		return out
	}
	var targets []any
	for i, t := range p.targets {
		targets = append(targets, map[string]any{"refId": string(rune('A' + i)), "datasource": dsRef, "expr": t.expr, "legendFormat": t.legend})
	}
	out["datasource"] = dsRef
	out["description"] = p.description
	out["targets"] = targets
	out["fieldConfig"] = map[string]any{"defaults": map[string]any{"unit": p.unit}, "overrides": []any{}}
	if p.kind == "stat" {
		out["options"] = map[string]any{"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}}, "colorMode": "value", "graphMode": "area"}
	} else {
		out["options"] = map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}}
	}
	return out
}

// variables are the data source, job and instance template variables.
func variables() []any {
	query := func(name, label, q string, all bool) map[string]any {
		v := map[string]any{"name": name, "label": label, "type": "query", "datasource": dsRef,
			"query": map[string]any{"query": q, "refId": name}, "definition": q,
			"refresh": 2, "sort": 1, "hide": 0, "includeAll": all, "multi": all}
		if all {
			v["allValue"] = ".*"
			v["current"] = map[string]any{"text": "All", "value": "$__all"}
		}
		return v
	}
	return []any{
		map[string]any{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "hide": 0, "current": map[string]any{}},
		query("job", "Job", "label_values(ipvs_proxy_syncs_total, job)", false),
		query("instance", "Instance", `label_values(ipvs_proxy_syncs_total{job=~"$job"}, instance)`, true),
	}
}

// TestDashboardGenerated checks that the dashboard file is dashboardSpec's
// rendering; -update rewrites it.
func TestDashboardGenerated(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(dashboardJSON(dashboardSpec)); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(dashboardFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Errorf("%s is not the rendering of dashboardSpec: run go test -update in test/monitoring", dashboardFile)
	}
}
