package monitoring

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// query is one PromQL expression of the dashboard or the rules, and where
// it is.
type query struct {
	where, expr string
	// legend is a dashboard target's legendFormat ({{label}} placeholders).
	legend string
}

// grafanaIntervals are Grafana's built-in range variables, replaced by a
// duration before parsing (anywhere else a variable is a parse error).
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h")

// pqlParser is Prometheus's own parser, with its default options (the
// functions every Prometheus accepts, no experimental ones).
var pqlParser = parser.NewParser(parser.Options{})

// checkQuery parses q and checks every metric it selects against reg, every
// label matcher's name (and, where the daemon's values are known, its
// value), every grouping label and every legend placeholder.
func checkQuery(reg map[string]exposed, q query) error {
	expr, err := pqlParser.ParseExpr(grafanaIntervals.Replace(q.expr))
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	var errs []error
	known := map[string]bool{}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			errs = append(errs, checkSelector(reg, vs, known))
		}
		return nil
	})
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		var grouping []string
		switch n := n.(type) {
		case *parser.AggregateExpr:
			grouping = n.Grouping
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				grouping = append(n.VectorMatching.MatchingLabels, n.VectorMatching.Include...)
			}
		}
		for _, l := range grouping {
			if !known[l] {
				errs = append(errs, fmt.Errorf("groups by %q, a label of none of its metrics", l))
			}
		}
		return nil
	})
	for _, m := range regexp.MustCompile(`{{\s*(\w+)\s*}}`).FindAllStringSubmatch(q.legend, -1) {
		if !known[m[1]] {
			errs = append(errs, fmt.Errorf("legend uses %q, a label of none of its metrics", m[1]))
		}
	}
	return errors.Join(errs...)
}

// simpleAlternatives matches a regexp that is only a|b|c of plain values.
var simpleAlternatives = regexp.MustCompile(`^[a-z0-9_-]+(\|[a-z0-9_-]+)*$`)

// checkSelector checks one vector selector and adds its metric's labels to
// known.
func checkSelector(reg map[string]exposed, vs *parser.VectorSelector, known map[string]bool) error {
	s, ok := reg[vs.Name]
	if !ok {
		return fmt.Errorf("selects %q, which the daemon does not register (or a vector populate() leaves empty)", vs.Name)
	}
	for l := range s.labels {
		known[l] = true
	}
	var errs []error
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		values, ok := s.labels[m.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s has no label %q", vs.Name, m.Name))
			continue
		}
		if values == nil || strings.Contains(m.Value, "$") {
			continue // any value, or a Grafana variable
		}
		var want []string
		switch {
		case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
			want = []string{m.Value}
		case simpleAlternatives.MatchString(m.Value):
			want = strings.Split(m.Value, "|")
		}
		for _, v := range want {
			if !values[v] {
				errs = append(errs, fmt.Errorf("%s{%s=%q}: the daemon never sets that value", vs.Name, m.Name, v))
			}
		}
	}
	return errors.Join(errs...)
}

// labelValuesQuery is a Grafana variable query label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// TestQueriesUseRegisteredMetrics parses every dashboard target, variable
// query and alert expression with Prometheus's parser and checks them
// against the series the daemon registers.
func TestQueriesUseRegisteredMetrics(t *testing.T) {
	reg := registered(t)
	queries := append(dashboardQueries(t, readDashboard(t)), ruleQueries(readRules(t))...)
	if len(queries) < 30 {
		t.Fatalf("found only %d queries: the dashboard or rule file is not read as it should", len(queries))
	}
	for _, q := range queries {
		if err := checkQuery(reg, q); err != nil {
			t.Errorf("%s: %s\n%v", q.where, q.expr, err)
		}
	}
}

// TestCheckQueryRejects proves that checkQuery catches each kind of mistake.
func TestCheckQueryRejects(t *testing.T) {
	reg := registered(t)
	for _, tc := range []struct{ name, expr, legend, want string }{
		{"syntax", `sum(rate(ipvs_proxy_kernel_writes_total[5m])`, "", "does not parse"},
		{"unknown function", `rates(ipvs_proxy_kernel_writes_total[5m])`, "", "does not parse"},
		{"unknown metric", `ipvs_proxy_drains_total`, "", `selects "ipvs_proxy_drains_total"`},
		{"counter without _total", `rate(ipvs_proxy_kernel_writes[5m])`, "", `selects "ipvs_proxy_kernel_writes"`},
		{"histogram without suffix", `rate(kubeproxy_sync_proxy_rules_duration_seconds[5m])`, "", "does not register"},
		{"unknown label", `ipvs_proxy_object_errors{operation="x"}`, "", `has no label "operation"`},
		{"label of another metric", `ipvs_proxy_kernel_writes_total{reason="invalid"}`, "", `has no label "reason"`},
		{"unknown value", `ipvs_proxy_drains_finished_total{reason="timed-out"}`, "", "never sets that value"},
		{"unknown alternative", `ipvs_proxy_syncs_total{type=~"full|partial"}`, "", `"partial"`},
		{"le outside _bucket", `ipvs_proxy_syncs_total{le="1"}`, "", `has no label "le"`},
		{"grouping label", `sum by (reason) (ipvs_proxy_kernel_writes_total)`, "", `groups by "reason"`},
		{"matching label", `ipvs_proxy_real_servers and on (pod) ipvs_proxy_virtual_servers`, "", `groups by "pod"`},
		{"legend label", `sum by (instance) (ipvs_proxy_real_servers)`, "{{node}}", `legend uses "node"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkQuery(reg, query{expr: tc.expr, legend: tc.legend})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkQuery(%s) = %v, want an error with %q", tc.expr, err, tc.want)
			}
		})
	}
	ok := `sum by (reason) (rate(ipvs_proxy_drains_finished_total{job=~"$job", reason="timeout"}[$__rate_interval]))`
	if err := checkQuery(reg, query{expr: ok, legend: "{{reason}}"}); err != nil {
		t.Errorf("checkQuery(%s) = %v, want nil", ok, err)
	}
}
