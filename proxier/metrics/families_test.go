package metrics

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// kubeProxyFamily is one line of testdata/kube-proxy-families.txt.
type kubeProxyFamily struct {
	Type    string
	Labels  []string
	Buckets []string
	Modes   []string
}

// readKubeProxyFamilies reads the families go generate listed from
// kube-proxy's source (internal/familylist).
func readKubeProxyFamilies(t *testing.T) map[string]kubeProxyFamily {
	f, err := os.Open("testdata/kube-proxy-families.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]kubeProxyFamily{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		out[fields[0]] = kubeProxyFamily{Type: fields[1], Labels: split(fields[2], true), Modes: split(fields[3], false), Buckets: split(fields[4], false)}
	}
	if err := sc.Err(); err != nil || len(out) < 30 {
		t.Fatalf("read %d families: %v", len(out), err)
	}
	return out
}

// split splits a comma-separated field ("-" is empty), sorted if sorted
// (label names; buckets keep their order).
func split(s string, sorted bool) []string {
	if s == "-" {
		return nil
	}
	l := strings.Split(s, ",")
	if sorted {
		slices.Sort(l)
	}
	return l
}

// notOurs are the kube-proxy families that apply to IPVS mode but that
// ipvs-proxy does not export, with the reason.
var notOurs = map[string]string{
	"kubeproxy_sync_proxy_rules_iptables_restore_failures_total": "ipvs-proxy never runs iptables-restore: its " +
		"netfilter rules are one nftables table written over netlink; failed writes are counted in " +
		"ipvs_proxy_kernel_operation_errors_total and ipvs_proxy_syncs_total{result=\"failed\"}",
}

// extraKubeProxy are the kube-proxy families ipvs-proxy exports although
// kube-proxy registers them only in other modes, with the reason.
var extraKubeProxy = map[string]string{
	"kubeproxy_sync_full_proxy_rules_duration_seconds": "ipvs-proxy syncs incrementally, as kube-proxy's iptables " +
		"and nftables modes do, and reports full and partial syncs apart as they do",
	"kubeproxy_sync_partial_proxy_rules_duration_seconds": "see kubeproxy_sync_full_proxy_rules_duration_seconds",
}

// TestKubeProxyFamilies checks that every family kube-proxy registers in
// IPVS mode (its kubeproxy_* families of every mode and of IPVS mode,
// client-go's rest_client_* and kubernetes_build_info) exists in our
// registry with the same type, label names and buckets, except those in
// notOurs; that the other modes' families are absent unless in
// extraKubeProxy (iptables, nftables and Windows kernelspace families:
// their rule counters, restore and sync failures, nfacct packet counters,
// localhost node-port listeners, winkernel load-balancer failures); and
// that every other family of ours is named ipvs_proxy_*, go_* or process_*.
func TestKubeProxyFamilies(t *testing.T) {
	want := readKubeProxyFamilies(t)
	got := exercised(t)
	for name, kp := range want {
		ipvs := slices.Contains(kp.Modes, "all") || slices.Contains(kp.Modes, "ipvs")
		g, ours := got[name]
		switch {
		case ipvs && notOurs[name] != "":
			if ours {
				t.Errorf("%s is listed in notOurs but exported", name)
			}
		case ipvs || extraKubeProxy[name] != "":
			if !ours {
				t.Errorf("kube-proxy's %s %s %v is missing", kp.Type, name, kp.Labels)
				continue
			}
			kp.Modes = nil
			if d := cmp.Diff(kp, g); d != "" {
				t.Errorf("%s differs from kube-proxy's (-kube-proxy +ours):\n%s", name, d)
			}
		case ours:
			t.Errorf("%s is registered by kube-proxy in modes %v only; list it in extraKubeProxy with a reason", name, kp.Modes)
		}
	}
	for name := range got {
		if _, kp := want[name]; kp {
			continue
		}
		if !strings.HasPrefix(name, "ipvs_proxy_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("%s is neither kube-proxy's nor named ipvs_proxy_*", name)
		}
	}
}

// exercised returns the families of a registry in which every metric has
// been given a value, through the methods the daemon and the engine call
// and through client-go's hooks, as kube-proxy-families.txt describes them.
func exercised(t *testing.T) map[string]kubeProxyFamily {
	m := New()
	now := time.Unix(1700000000, 0)
	m.SetFamilies([]string{"IPv4", "IPv6"})
	m.SetBuildInfo(BuildInfo{Major: "0", Minor: "1", GitVersion: "v0.1.0"})
	m.Queued(now)
	m.SyncDone(SyncFull, time.Millisecond, 1, false, now)
	m.SyncDone(SyncIncremental, time.Millisecond, 1, false, now)
	m.Changes(1, 1)
	m.Pending(1, 1)
	m.Programmed(now, []time.Time{now.Add(-time.Second)})
	m.NoLocalEndpoints([2]int{1, 0}, [2]int{0, 1})
	m.ConntrackCleared("IPv4", time.Millisecond, 3)
	m.HealthzRequest(200)
	m.LivezRequest(200)
	m.State(1, 1, 0)
	m.DrainStarted()
	m.DrainFinished("timeout")
	m.KernelError("add-real-server")
	m.ObjectErrors(map[string]int{"invalid": 1})
	m.SysctlDrift("net/ipv4/vs/conntrack")
	m.ConfigWarnings(0)
	m.ServiceProblems(1)
	callClientGoHooks()

	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kubeProxyFamily{}
	for _, mf := range mfs {
		f := kubeProxyFamily{Type: strings.ToLower(mf.GetType().String())}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			f.Labels = append(f.Labels, l.GetName())
		}
		slices.Sort(f.Labels)
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			f.Buckets = append(f.Buckets, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
		}
		out[mf.GetName()] = f
	}
	return out
}

// callClientGoHooks reports once through every client-go hook kube-proxy's
// restclient adapter fills.
func callClientGoHooks() {
	ctx := context.Background()
	u := url.URL{Host: "127.0.0.1:6443"}
	expiry := time.Now().Add(time.Hour)
	clientmetrics.ClientCertExpiry.Set(&expiry)
	clientmetrics.ClientCertRotationAge.Observe(time.Hour)
	clientmetrics.RequestLatency.Observe(ctx, "GET", u, time.Millisecond)
	clientmetrics.RateLimiterLatency.Observe(ctx, "GET", u, time.Millisecond)
	clientmetrics.RequestSize.Observe(ctx, "GET", u.Host, 100)
	clientmetrics.ResponseSize.Observe(ctx, "GET", u.Host, 100)
	clientmetrics.RequestResult.Increment(ctx, "200", "GET", u.Host)
	clientmetrics.RequestRetry.IncrementRetry(ctx, "500", "GET", u.Host)
	clientmetrics.ExecPluginCalls.Increment(0, "no_error")
	clientmetrics.TransportCacheEntries.Observe(1)
	clientmetrics.TransportCreateCalls.Increment("hit")
	clientmetrics.TransportCAReloads.Increment("success", "rotation")
	clientmetrics.TransportCertRotationGCCalls.Increment()
	clientmetrics.TransportCacheGCCalls.Increment("deleted")
}

// TestFamiliesIPFamily checks that the per-family series follow
// SetFamilies: one series per proxied family, a queued time kept until
// the families are known, and a dropped family's series removed.
func TestFamiliesIPFamily(t *testing.T) {
	m := New()
	now := time.Unix(1700000000, 0)
	m.Queued(now)
	m.SetFamilies([]string{"IPv4", "IPv6"})
	m.SyncDone(SyncIncremental, time.Millisecond, 0, false, now)
	m.NoLocalEndpoints([2]int{2, 0}, [2]int{0, 3})
	want := map[string][]string{
		"kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds": {"ip_family=IPv4 1.7e+09", "ip_family=IPv6 1.7e+09"},
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds":        {"ip_family=IPv4 1.7e+09", "ip_family=IPv6 1.7e+09"},
		"kubeproxy_sync_proxy_rules_no_local_endpoints_total": {
			"ip_family=IPv4,traffic_policy=external 0", "ip_family=IPv4,traffic_policy=internal 2",
			"ip_family=IPv6,traffic_policy=external 3", "ip_family=IPv6,traffic_policy=internal 0"},
	}
	if d := cmp.Diff(want, series(t, m, want)); d != "" {
		t.Errorf("dual-stack series (-want +got):\n%s", d)
	}
	m.SetFamilies([]string{"IPv4"})
	want = map[string][]string{
		"kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds": {"ip_family=IPv4 1.7e+09"},
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds":        {"ip_family=IPv4 1.7e+09"},
		"kubeproxy_sync_proxy_rules_no_local_endpoints_total": {
			"ip_family=IPv4,traffic_policy=external 0", "ip_family=IPv4,traffic_policy=internal 2"},
	}
	if d := cmp.Diff(want, series(t, m, want)); d != "" {
		t.Errorf("after dropping IPv6 (-want +got):\n%s", d)
	}
}

// series returns the gauge series of the families named in names, as
// "label=value,... value".
func series(t *testing.T, m *Metrics, names map[string][]string) map[string][]string {
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		if _, ok := names[mf.GetName()]; !ok {
			continue
		}
		for _, s := range mf.GetMetric() {
			out[mf.GetName()] = append(out[mf.GetName()], labelString(s.GetLabel())+" "+strconv.FormatFloat(s.GetGauge().GetValue(), 'g', -1, 64))
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(s, ",")
}
