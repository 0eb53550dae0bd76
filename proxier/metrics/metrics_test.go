package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

var _ reconcile.Metrics = (*Metrics)(nil)

func TestKubeProxyNamesAndValues(t *testing.T) {
	m := New()
	now := time.Unix(1700000000, 0)
	m.SetFamilies([]string{"IPv4"})
	m.SyncDone(SyncIncremental, 3*time.Millisecond, 2, false, now)
	m.SyncDone(SyncFull, 40*time.Millisecond, 0, true, now)
	m.Changes(1, 5)
	m.Pending(0, 2)
	m.Programmed(now, []time.Time{now.Add(-1500 * time.Millisecond), {}})
	m.HealthzRequest(200)
	m.HealthzRequest(503)
	m.DrainFinished("timeout")
	m.KernelError("add-real-server")
	m.State(10, 100, 1)

	want := `
# HELP kubeproxy_sync_proxy_rules_endpoint_changes_total Cumulative EndpointSlice changes.
# TYPE kubeproxy_sync_proxy_rules_endpoint_changes_total counter
kubeproxy_sync_proxy_rules_endpoint_changes_total 5
# HELP kubeproxy_sync_proxy_rules_endpoint_changes_pending Pending EndpointSlice changes.
# TYPE kubeproxy_sync_proxy_rules_endpoint_changes_pending gauge
kubeproxy_sync_proxy_rules_endpoint_changes_pending 2
# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time a sync completed successfully.
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09
# HELP kubeproxy_proxy_healthz_total Cumulative proxy /healthz HTTP status codes.
# TYPE kubeproxy_proxy_healthz_total counter
kubeproxy_proxy_healthz_total{code="200"} 1
kubeproxy_proxy_healthz_total{code="503"} 1
# HELP ipvs_proxy_drains_finished_total Drains ended, and deletions that skipped the drain, by reason.
# TYPE ipvs_proxy_drains_finished_total counter
ipvs_proxy_drains_finished_total{reason="timeout"} 1
# HELP ipvs_proxy_syncs_total Syncs by type (incremental, full, repair: one step of the paced periodic repair) and result (ok, failed).
# TYPE ipvs_proxy_syncs_total counter
ipvs_proxy_syncs_total{result="failed",type="full"} 1
ipvs_proxy_syncs_total{result="ok",type="incremental"} 1
`
	names := []string{"kubeproxy_sync_proxy_rules_endpoint_changes_total", "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds", "kubeproxy_proxy_healthz_total", "ipvs_proxy_drains_finished_total", "ipvs_proxy_syncs_total"}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.programming); n != 1 {
		t.Errorf("network programming series: %d", n)
	}
}
