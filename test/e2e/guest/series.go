package guest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SeriesNeed is a series name that dashboard or alert queries select from
// the daemon's /metrics, and the label names they need on it.
type SeriesNeed struct {
	Name   string
	Labels []string
}

// ParseSeriesNeeds reads one need per line, "name label...", as
// test/monitoring writes them; lines starting with # are comments.
func ParseSeriesNeeds(text string) ([]SeriesNeed, error) {
	var needs []SeriesNeed
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if !model.LegacyValidation.IsValidMetricName(fields[0]) {
			return nil, fmt.Errorf("line %d: %q is not a metric name", i+1, fields[0])
		}
		needs = append(needs, SeriesNeed{Name: fields[0], Labels: fields[1:]})
	}
	if len(needs) == 0 {
		return nil, errors.New("no series listed")
	}
	return needs, nil
}

// ScrapeFamilies reads the daemon's /metrics with Prometheus's own
// text-format parser.
func ScrapeFamilies() (map[string]*dto.MetricFamily, error) {
	var families map[string]*dto.MetricFamily
	err := scrape(func(r io.Reader) (err error) {
		families, err = parseFamilies(r)
		return err
	})
	return families, err
}

func parseFamilies(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Series is what an exposition holds under one series name: how many
// samples, and the label names they carry.
type Series struct {
	Samples int
	Labels  map[string]bool
}

// SeriesOf expands metric families into the series names Prometheus stores
// them under: a histogram into _bucket (labelled le), _sum and _count, a
// summary into its own name (labelled quantile), _sum and _count.
func SeriesOf(families map[string]*dto.MetricFamily) map[string]Series {
	out := map[string]Series{}
	add := func(name string, m *dto.Metric, samples int, extra string) {
		if samples == 0 {
			return
		}
		s, ok := out[name]
		if !ok {
			s = Series{Labels: map[string]bool{}}
		}
		s.Samples += samples
		for _, lp := range m.GetLabel() {
			s.Labels[lp.GetName()] = true
		}
		if extra != "" {
			s.Labels[extra] = true
		}
		out[name] = s
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", m, len(m.GetHistogram().GetBucket()), model.BucketLabel)
				add(name+"_sum", m, 1, "")
				add(name+"_count", m, 1, "")
			case dto.MetricType_SUMMARY:
				add(name, m, len(m.GetSummary().GetQuantile()), model.QuantileLabel)
				add(name+"_sum", m, 1, "")
				add(name+"_count", m, 1, "")
			default:
				add(name, m, 1, "")
			}
		}
	}
	return out
}

// CheckSeries checks that every needed series has a sample and carries the
// labels it needs. It returns a line per need saying what was found, and an
// error naming every series or label missing.
func CheckSeries(have map[string]Series, needs []SeriesNeed) ([]string, error) {
	var found []string
	var errs []error
	for _, n := range needs {
		s, ok := have[n.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no sample", n.Name))
			continue
		}
		for _, l := range n.Labels {
			if !s.Labels[l] {
				errs = append(errs, fmt.Errorf("%s: no label %s (it has %s)", n.Name, l, labelList(s.Labels)))
			}
		}
		needed := "none"
		if len(n.Labels) > 0 {
			needed = strings.Join(n.Labels, ",")
		}
		found = append(found, fmt.Sprintf("%s: %d samples, labels %s (needs %s)",
			n.Name, s.Samples, labelList(s.Labels), needed))
	}
	return found, errors.Join(errs...)
}

func labelList(labels map[string]bool) string {
	if len(labels) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(labels)), ",")
}
