package guest

import (
	"strings"
	"testing"
)

// exposition is a small /metrics in the text format, with a histogram, a
// summary, a counter vector and a vector without children (HELP/TYPE only).
const exposition = `# TYPE rest_client_request_duration_seconds histogram
rest_client_request_duration_seconds_bucket{host="h",verb="GET",le="0.1"} 3
rest_client_request_duration_seconds_bucket{host="h",verb="GET",le="+Inf"} 4
rest_client_request_duration_seconds_sum{host="h",verb="GET"} 0.2
rest_client_request_duration_seconds_count{host="h",verb="GET"} 4
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.01
go_gc_duration_seconds_count 7
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="h",method="GET"} 9
rest_client_requests_total{code="201",host="h",method="POST"} 1
# HELP kubeproxy_sync_proxy_rules_no_local_endpoints_total x
# TYPE kubeproxy_sync_proxy_rules_no_local_endpoints_total gauge
`

func TestCheckSeries(t *testing.T) {
	families, err := parseFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	have := SeriesOf(families)
	for _, tc := range []struct {
		name string
		need SeriesNeed
		want string // "" when present, else part of the error
	}{
		{"bucket with le", SeriesNeed{"rest_client_request_duration_seconds_bucket", []string{"le", "verb"}}, ""},
		{"histogram count", SeriesNeed{"rest_client_request_duration_seconds_count", nil}, ""},
		{"le only on buckets", SeriesNeed{"rest_client_request_duration_seconds_count", []string{"le"}}, "no label le"},
		{"histogram's own name", SeriesNeed{"rest_client_request_duration_seconds", nil}, "no sample"},
		{"summary quantile", SeriesNeed{"go_gc_duration_seconds", []string{"quantile"}}, ""},
		{"summary sum", SeriesNeed{"go_gc_duration_seconds_sum", nil}, ""},
		{"counter label", SeriesNeed{"rest_client_requests_total", []string{"code"}}, ""},
		{"missing label", SeriesNeed{"rest_client_requests_total", []string{"verb"}}, "no label verb (it has code,host,method)"},
		{"family without samples", SeriesNeed{"kubeproxy_sync_proxy_rules_no_local_endpoints_total", nil}, "no sample"},
		{"absent", SeriesNeed{"kubeproxy_network_programming_duration_seconds_bucket", []string{"le"}}, "no sample"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckSeries(have, []SeriesNeed{tc.need})
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckSeries(%v) = %v, want %q", tc.need, err, tc.want)
			}
		})
	}
	if got := have["rest_client_request_duration_seconds_bucket"].Samples; got != 2 {
		t.Errorf("bucket samples = %d, want 2", got)
	}
	if got := have["rest_client_requests_total"].Samples; got != 2 {
		t.Errorf("counter samples = %d, want 2", got)
	}
}

func TestParseSeriesNeeds(t *testing.T) {
	needs, err := ParseSeriesNeeds("# comment\n\nx_bucket le verb\ngo_goroutines\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(needs) != 2 || needs[0].Name != "x_bucket" || strings.Join(needs[0].Labels, " ") != "le verb" ||
		needs[1].Name != "go_goroutines" || len(needs[1].Labels) != 0 {
		t.Errorf("ParseSeriesNeeds = %+v", needs)
	}
	for _, bad := range []string{"# only comments\n", "x-y le\n"} {
		if _, err := ParseSeriesNeeds(bad); err == nil {
			t.Errorf("ParseSeriesNeeds(%q) = nil error", bad)
		}
	}
}
