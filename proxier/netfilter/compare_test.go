package netfilter

import (
	"errors"
	"testing"
)

// comparePrograms answers as the comparison of the rendered programs
// does, in each way two programs can differ: equal; an element missing, or
// extra; a chain's rule changed; a set's definition changed; a table
// missing.
func TestComparePrograms(t *testing.T) {
	base := func() *Program { return Translate(manyServices(50), DefaultTableName) }
	tests := []struct {
		name  string
		drift func(p *Program)
	}{
		{"equal", func(*Program) {}},
		{"element missing", func(p *Program) { s := &p.Tables[0].Sets[0]; s.Elements = s.Elements[1:] }},
		{"element extra", func(p *Program) {
			s := &p.Tables[0].Sets[0]
			s.Elements = append(s.Elements, Element{Key: make([]byte, len(s.Elements[0].Key))})
		}},
		{"rule changed", func(p *Program) { p.Tables[0].Chains[0].Rules = p.Tables[0].Chains[0].Rules[1:] }},
		{"set definition changed", func(p *Program) { p.Tables[0].Sets[0].Interval = !p.Tables[0].Sets[0].Interval }},
		{"table missing", func(p *Program) { p.Tables = p.Tables[1:] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, have := base(), base()
			tc.drift(have)
			got := comparePrograms(want, have)
			wantErr := compare(want.String(), have.String())
			if (got == nil) != (wantErr == nil) || got != nil && !errors.Is(got, ErrDrift) {
				t.Errorf("comparePrograms = %v; the rendered programs compare to %v", got, wantErr)
			}
		})
	}
}

// BenchmarkVerifyCompare measures Verify's comparison of a read-back that
// matches, at 100,000 services (the read itself excluded): the structural
// comparison, and the rendered text it replaced.
func BenchmarkVerifyCompare(b *testing.B) {
	n := manyServices(100000)
	want, have := Translate(n, DefaultTableName), Translate(n, DefaultTableName)
	b.Run("structural", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := comparePrograms(want, have); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rendered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := compare(want.String(), have.String()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
