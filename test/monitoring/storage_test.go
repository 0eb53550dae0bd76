package monitoring

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// memStorage is an in-memory storage.Queryable of float series for
// Prometheus's query engine; it is its own Querier.
type memStorage struct {
	series []storage.Series
}

// load reads series in promtool's notation ("metric{label="v"} 0+1x10 _ 5",
// the same as promqltest's load command): the nth value is at n*step.
func load(t *testing.T, step time.Duration, lines ...string) *memStorage {
	t.Helper()
	s := &memStorage{}
	for _, line := range lines {
		lset, values, err := pqlParser.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, fsample{t: int64(i) * step.Milliseconds(), f: v.Value})
			}
		}
		s.series = append(s.series, storage.NewListSeries(lset, samples))
	}
	slices.SortFunc(s.series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return s
}

func (s *memStorage) Querier(int64, int64) (storage.Querier, error) { return s, nil }

// Select returns the series all matchers match, sorted by labels.
func (s *memStorage) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, sr := range s.series {
		if all(ms, sr.Labels()) {
			out = append(out, sr)
		}
	}
	return &seriesSet{series: out, i: -1}
}

func all(ms []*labels.Matcher, lset labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (*memStorage) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*memStorage) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*memStorage) Close() error { return nil }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// fsample is a float sample.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                    { return s.t }
func (fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                  { return s.f }
func (fsample) H() *histogram.Histogram       { return nil }
func (fsample) FH() *histogram.FloatHistogram { return nil }
func (fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample         { return s }
