package monitoring

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
)

// evalInterval is the rule group's evaluation interval (Prometheus's
// default is 1m; kube-prometheus uses 30s).
const evalInterval = 30 * time.Second

// firing evaluates an alert's expression with Prometheus's query engine
// every evalInterval from at-for to at, and returns the series that were
// present at every evaluation: those firing at at.
func firing(t *testing.T, st *memStorage, r rulefmt.Rule, at time.Duration) []string {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() }})
	end := time.Unix(0, 0).Add(at)
	q, err := eng.NewRangeQuery(t.Context(), st, nil, r.Expr, end.Add(-time.Duration(r.For)), end, evalInterval)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(t.Context())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	m, err := res.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range m {
		if len(s.Floats) == int(time.Duration(r.For)/evalInterval)+1 {
			out = append(out, s.Metric.String())
		}
	}
	return out
}

// tl are the target labels of the example series.
const tl = `job="ipvs-proxy", instance="a:10249"`

// fam is the label of kube-proxy's per-family series.
const fam = `ip_family="IPv4"`

// sr is an example series line: metric{target labels, labels} values, one
// value a minute.
func sr(metric, labels, values string) string {
	if labels != "" {
		labels = ", " + labels
	}
	return metric + "{" + tl + labels + "} " + values
}

// alertCase is one alert on example series: firing at the given time or
// not, and, when firing, with a label that the firing series must carry.
type alertCase struct {
	alert, name string
	series      []string
	at          time.Duration
	fires       bool
	label       string
}

var alertCases = []alertCase{
	{"IPVSProxyNotSyncing", "syncing every minute", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x40"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "0+60x40")}, 40 * time.Minute, false, ""},
	{"IPVSProxyNotSyncing", "changes keep coming and are synced", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x40"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "30+60x40")}, 40 * time.Minute, false, ""},
	{"IPVSProxyNotSyncing", "last sync at 5m, nothing queued, at 14m", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x5 300x35"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "0+60x5 300x35")}, 14 * time.Minute, false, ""},
	{"IPVSProxyNotSyncing", "last sync at 5m, nothing queued, at 16m", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x5 300x35"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "0+60x5 300x35")}, 16 * time.Minute, true, `instance="a:10249"`},
	// kube-proxy's /healthz condition fires before the 5-minute staleness.
	{"IPVSProxyNotSyncing", "change queued at 10m, last sync at 9m, at 17m", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x9 540x31"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "0+60x9 540 600x30")}, 17 * time.Minute, true, fam},
	{"IPVSProxyNotSyncing", "nothing queued, last sync at 9m, at 17m", []string{
		sr("kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam, "0+60x9 540x31"),
		sr("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam, "0+60x9 540x31")}, 17 * time.Minute, false, ""},

	{"IPVSProxySyncsFailing", "failing twice a minute", []string{
		sr("ipvs_proxy_syncs_total", `type="repair", result="ok"`, "0+10x40"),
		sr("ipvs_proxy_syncs_total", `type="repair", result="failed"`, "0+2x40")}, 40 * time.Minute, true, `instance="a:10249"`},
	{"IPVSProxySyncsFailing", "one failure long ago", []string{
		sr("ipvs_proxy_syncs_total", `type="repair", result="ok"`, "0+10x40"),
		sr("ipvs_proxy_syncs_total", `type="repair", result="failed"`, "0x5 1x35")}, 40 * time.Minute, false, ""},

	{"IPVSProxyObjectsFailing", "an invalid object for 40m", []string{
		sr("ipvs_proxy_object_errors", `reason="invalid"`, "1x40")}, 40 * time.Minute, true, `reason="invalid"`},
	{"IPVSProxyObjectsFailing", "an object failed for 3m, then fixed", []string{
		sr("ipvs_proxy_object_errors", `reason="foreign"`, "1x3 0x37")}, 40 * time.Minute, false, ""},

	{"IPVSProxyKernelOperationErrors", "list failing every minute", []string{
		sr("ipvs_proxy_kernel_operation_errors_total", `operation="list"`, "0+1x40")}, 40 * time.Minute, true, `operation="list"`},
	{"IPVSProxyKernelOperationErrors", "one error at 10m", []string{
		sr("ipvs_proxy_kernel_operation_errors_total", `operation="list"`, "0x10 1x30")}, 40 * time.Minute, false, ""},

	{"IPVSProxyDrainStuck", "one draining since the start", []string{
		sr("ipvs_proxy_destinations_draining", "", "1x40"),
		sr("ipvs_proxy_drains_started_total", "", "1x40"),
		sr("process_start_time_seconds", "", "0x40")}, 20 * time.Minute, true, `instance="a:10249"`},
	{"IPVSProxyDrainStuck", "drains keep starting and ending", []string{
		sr("ipvs_proxy_destinations_draining", "", "1x40"),
		sr("ipvs_proxy_drains_started_total", "", "0+1x40"),
		sr("process_start_time_seconds", "", "0x40")}, 20 * time.Minute, false, ""},
	{"IPVSProxyDrainStuck", "nothing draining", []string{
		sr("ipvs_proxy_destinations_draining", "", "0x40"),
		sr("ipvs_proxy_drains_started_total", "", "1x40"),
		sr("process_start_time_seconds", "", "0x40")}, 20 * time.Minute, false, ""},
	{"IPVSProxyDrainStuck", "restarted at 15m: its counter knows nothing older", []string{
		sr("ipvs_proxy_destinations_draining", "", "1x40"),
		sr("ipvs_proxy_drains_started_total", "", "1x40"),
		sr("process_start_time_seconds", "", "900x40")}, 18 * time.Minute, false, ""},

	{"IPVSProxyHealthzFlapping", "503 from 5m to 7m and from 15m to 17m", []string{
		sr("kubeproxy_proxy_healthz_total", `code="200"`, "0+10x40"),
		sr("kubeproxy_proxy_healthz_total", `code="503"`, "0x4 10 20 30 30x6 40 50 60 60x22")}, 30 * time.Minute, true, `instance="a:10249"`},
	{"IPVSProxyHealthzFlapping", "one restart's lame duck", []string{
		sr("kubeproxy_proxy_healthz_total", `code="200"`, "0+10x40"),
		sr("kubeproxy_proxy_healthz_total", `code="503"`, "0x4 10 20 30 30x34")}, 30 * time.Minute, false, ""},
	{"IPVSProxyHealthzFlapping", "unhealthy all along (IPVSProxyNotSyncing's case)", []string{
		sr("kubeproxy_proxy_healthz_total", `code="503"`, "0+10x40")}, 30 * time.Minute, false, ""},

	{"IPVSProxySysctlDrift", "reset at 10m and 20m", []string{
		sr("ipvs_proxy_sysctl_drift_total", `name="net.ipv4.vs.conntrack"`, "0x10 1x10 2x20")}, 40 * time.Minute, true, `name="net.ipv4.vs.conntrack"`},
	{"IPVSProxySysctlDrift", "reset once", []string{
		sr("ipvs_proxy_sysctl_drift_total", `name="net.ipv4.vs.conntrack"`, "0x10 1x30")}, 40 * time.Minute, false, ""},
}

// TestAlertsFire evaluates each alert of the rule file on example series:
// it fires where an operator must act and stays quiet in the look-alike
// healthy cases. Every alert has both kinds of case.
func TestAlertsFire(t *testing.T) {
	rules := map[string]rulefmt.Rule{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = r
		}
	}
	covered := map[string][2]bool{}
	for _, tc := range alertCases {
		t.Run(tc.alert+"/"+tc.name, func(t *testing.T) {
			r, ok := rules[tc.alert]
			if !ok {
				t.Fatalf("no alert %s in %s", tc.alert, rulesFile)
			}
			got := firing(t, load(t, time.Minute, tc.series...), r, tc.at)
			if (len(got) > 0) != tc.fires {
				t.Fatalf("at %v: firing %v, want firing %v", tc.at, got, tc.fires)
			}
			for _, s := range got {
				if !strings.Contains(s, tc.label) {
					t.Errorf("firing series %s lacks %s", s, tc.label)
				}
			}
		})
		c := covered[tc.alert]
		c[boolIndex(tc.fires)] = true
		covered[tc.alert] = c
	}
	for name := range rules {
		if c := covered[name]; !c[0] || !c[1] {
			t.Errorf("%s: want a firing and a quiet case in alertCases, have %v", name, c)
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
