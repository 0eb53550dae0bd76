package guest

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNetnsAddrs(t *testing.T) {
	tests := []struct {
		idx         int
		v4, gw4, v6 string
		wantErr     bool
	}{
		{idx: 1, v4: "198.19.1.2/24", gw4: "198.19.1.1/24", v6: "fd00:10:0:1::2/64"},
		{idx: 127, v4: "198.19.127.2/24", gw4: "198.19.127.1/24", v6: "fd00:10:0:7f::2/64"},
		{idx: 200, v4: "198.19.200.2/24", gw4: "198.19.200.1/24", v6: "fd00:20:0:c8::2/64"},
		{idx: 0, wantErr: true},
		{idx: 128, wantErr: true},
		{idx: 208, wantErr: true},
	}
	for _, tc := range tests {
		v4, gw4, v6, _, err := netnsAddrs(tc.idx)
		if (err != nil) != tc.wantErr {
			t.Errorf("netnsAddrs(%d) error %v, want error %v", tc.idx, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if v4.String() != tc.v4 || gw4.String() != tc.gw4 || v6.String() != tc.v6 {
			t.Errorf("netnsAddrs(%d) = %s %s %s, want %s %s %s", tc.idx, v4, gw4, v6, tc.v4, tc.gw4, tc.v6)
		}
		for _, p := range []netip.Prefix{v4, v6} {
			if !netip.MustParsePrefix("198.18.0.0/15").Contains(p.Addr()) && !netip.MustParsePrefix("fd00::/8").Contains(p.Addr()) {
				t.Errorf("netnsAddrs(%d) gave %s, outside the test ranges", tc.idx, p)
			}
		}
	}
}

func TestParseMetricsAndAllSet(t *testing.T) {
	text := `# HELP x y
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 0
ipvs_proxy_kernel_writes_total 41
ipvs_proxy_syncs_total{result="ok",type="full"} 2
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if m["ipvs_proxy_kernel_writes_total"] != 41 || m[`ipvs_proxy_syncs_total{result="ok",type="full"}`] != 2 {
		t.Errorf("parseMetrics = %v", m)
	}
	const ts = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	if allSet(m, ts, 1) {
		t.Errorf("allSet with an IPv6 sample at 0 = true, want false")
	}
	m[ts+`{ip_family="IPv6"}`] = 1.7e9
	if !allSet(m, ts, 2) || allSet(m, ts, 3) || allSet(m, "absent", 1) {
		t.Errorf("allSet disagrees with two set samples: %v", m)
	}
}

func TestWeightsOfAndCounts(t *testing.T) {
	got := WeightsOf(map[netip.Addr]int{
		netip.MustParseAddr("198.19.3.2"): 1, netip.MustParseAddr("198.19.10.2"): 0, netip.MustParseAddr("198.19.2.2"): 1})
	if want := "198.19.2.2:8080=1 198.19.3.2:8080=1 198.19.10.2:8080=0"; got != want {
		t.Errorf("WeightsOf = %q, want %q", got, want)
	}
	if got := WeightsOf(nil); got != "" {
		t.Errorf("WeightsOf(nil) = %q, want empty (a virtual server without real servers)", got)
	}
	if got := (Counts{"b": 2, "a": 10}).String(); got != "a=10 b=2" {
		t.Errorf("Counts.String = %q", got)
	}
}

func TestParseNftSet(t *testing.T) {
	out := `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"set": {"family": "ip", "name": "service-ips", "table": "ipvs-proxy", "type": "ipv4_addr", "handle": 3,
  "elem": ["198.19.0.10", {"concat": ["198.19.0.10", "tcp", 80]}]}}]}`
	got, err := parseNftSet([]byte(out), "service-ips")
	if err != nil {
		t.Fatal(err)
	}
	if want := `198.19.0.10 {"concat":["198.19.0.10","tcp",80]}`; strings.Join(got, " ") != want {
		t.Errorf("parseNftSet = %q, want %q", got, want)
	}
	empty := `{"nftables": [{"set": {"family": "ip", "name": "service-ips", "table": "ipvs-proxy"}}]}`
	if got, err := parseNftSet([]byte(empty), "service-ips"); err != nil || len(got) != 0 {
		t.Errorf("parseNftSet of an empty set = %q, %v; want none", got, err)
	}
	if _, err := parseNftSet([]byte(empty), "other"); err == nil {
		t.Errorf("parseNftSet of a set nft did not print: no error")
	}
}
