package monitoring

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// mixinSeriesFile is what the e2e suite checks the live /metrics of the
// daemon in the VM against (test/e2e/scenarios embeds it): the series the
// mixin's queries select, each with the labels they need on it.
const mixinSeriesFile = "../e2e/scenarios/testdata/mixin-series.txt"

const mixinSeriesHeader = `# The series the kubernetes-mixin's kube-proxy dashboard and alerts select
# from kube-proxy's /metrics, each with the labels its queries match on or
# group by; job, instance, cluster and namespace, which Prometheus adds at
# scrape, and up, which it writes itself, are left out.
# Generated from mixinQueries by TestMixinSeriesFile: go test -update in
# test/monitoring. Checked against the daemon's /metrics in the VM by
# test/e2e (scenario 01).
`

// scrapeAdded are the series and labels Prometheus, not the daemon, puts on
// a scraped target.
var scrapeAdded = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range slices.Concat(targetLabels, mixinTargetLabels, prometheusSeries) {
		m[s] = true
	}
	return m
}()

// seriesNeeds parses the queries and returns, per series name they select,
// the label names their matchers use on it, the labels of every `by` or
// `on` clause above it, and le under histogram_quantile; scrapeAdded names
// are left out.
func seriesNeeds(queries []query) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for _, q := range queries {
		expr, err := pqlParser.ParseExpr(grafanaIntervals.Replace(q.expr))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.where, err)
		}
		parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || scrapeAdded[vs.Name] {
				return nil
			}
			if out[vs.Name] == nil {
				out[vs.Name] = map[string]bool{}
			}
			var names []string
			for _, m := range vs.LabelMatchers {
				names = append(names, m.Name)
			}
			for _, p := range path {
				switch p := p.(type) {
				case *parser.AggregateExpr:
					if !p.Without {
						names = append(names, p.Grouping...)
					}
				case *parser.BinaryExpr:
					if p.VectorMatching != nil && p.VectorMatching.On {
						names = append(names, p.VectorMatching.MatchingLabels...)
					}
				case *parser.Call:
					if p.Func.Name == "histogram_quantile" {
						names = append(names, "le") // the buckets of a classic histogram
					}
				}
			}
			for _, l := range names {
				if l != labels.MetricName && !scrapeAdded[l] {
					out[vs.Name][l] = true
				}
			}
			return nil
		})
	}
	return out, nil
}

// renderSeriesNeeds writes one line per series, sorted: its name, then its
// labels.
func renderSeriesNeeds(needs map[string]map[string]bool) []byte {
	var b bytes.Buffer
	b.WriteString(mixinSeriesHeader)
	for _, name := range slices.Sorted(maps.Keys(needs)) {
		b.WriteString(strings.Join(append([]string{name}, slices.Sorted(maps.Keys(needs[name]))...), " ") + "\n")
	}
	return b.Bytes()
}

// TestSeriesNeeds checks what seriesNeeds takes from a query and what it
// leaves out.
func TestSeriesNeeds(t *testing.T) {
	for _, tc := range []struct{ name, expr, want string }{
		{"matchers", `rest_client_requests_total{job="kube-proxy", code=~"2.."}`, "rest_client_requests_total code"},
		{"by clause", `sum by (verb, le, instance) (rate(x_bucket{cluster="$cluster"}[5m]))`, "x_bucket le verb"},
		{"histogram_quantile", `histogram_quantile(0.99, rate(x_bucket[5m]))`, "x_bucket le"},
		{"without clause", `sum without (pod) (x)`, "x"},
		{"on clause, both sides", `x and on (node) y`, "x node\ny node"},
		{"up is Prometheus's", `absent(up{job="kube-proxy"}) or go_goroutines`, "go_goroutines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needs, err := seriesNeeds([]query{{expr: tc.expr}})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimPrefix(string(renderSeriesNeeds(needs)), mixinSeriesHeader)
			if got != tc.want+"\n" {
				t.Errorf("seriesNeeds(%s) renders\n%s\nwant\n%s", tc.expr, got, tc.want)
			}
		})
	}
}

// TestMixinSeriesFile checks that mixinSeriesFile is what mixinQueries
// need; -update rewrites it.
func TestMixinSeriesFile(t *testing.T) {
	needs, err := seriesNeeds(mixinQueries)
	if err != nil {
		t.Fatal(err)
	}
	want := renderSeriesNeeds(needs)
	if *update {
		if err := os.MkdirAll(filepath.Dir(mixinSeriesFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mixinSeriesFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(mixinSeriesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Errorf("%s is not what mixinQueries need: run go test -update in test/monitoring\nhave:\n%s\nwant:\n%s", mixinSeriesFile, have, want)
	}
}
