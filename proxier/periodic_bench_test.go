package proxier_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// BenchmarkPeriodicCheck measures what the daemon's check sync (kind
// runner.Check, every --ipvs-sync-period) does on the sync goroutine when
// nothing changed, part by part: the empty incremental sync, the netfilter
// check (a generation request), the IPVS check (one virtual server's real
// servers), the retry of exhausted objects and the state gauges' counts
// (Engine.Stats). An endpoint change queued behind it waits for all of
// them, so their sum must stay at a few milliseconds at 100,000 services
// (issue 14: change p99 <= 100 ms).
func BenchmarkPeriodicCheck(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := klog.NewContext(context.Background(), klog.Background().V(1))
			fx := newEngineFixture(b, n)
			eng := fx.eng
			var took [5]time.Duration
			lap := func(i int, start time.Time) time.Time {
				now := time.Now()
				took[i] += now.Sub(start)
				return now
			}
			b.ReportAllocs()
			b.ResetTimer()
			runs := 0
			for b.Loop() {
				t := time.Now()
				if res := eng.Sync(ctx, nil); res.Writes != 0 {
					b.Fatalf("an empty sync wrote %d times", res.Writes)
				}
				t = lap(0, t)
				if eng.CheckNetfilter(ctx) {
					b.Fatal("the netfilter check found drift in a matching kernel")
				}
				t = lap(1, t)
				if eng.CheckIPVS(ctx) {
					b.Fatal("the IPVS check found drift in a matching kernel")
				}
				t = lap(2, t)
				if res := eng.RetryExhausted(ctx); res.Writes != 0 {
					b.Fatalf("nothing exhausted, %d writes", res.Writes)
				}
				t = lap(3, t)
				if vs, _, _ := eng.Stats(); vs != n {
					b.Fatalf("Stats: %d virtual servers, want %d", vs, n)
				}
				lap(4, t)
				runs++
			}
			b.StopTimer()
			for i, name := range []string{"sync", "nf-check", "ipvs-check", "retry", "stats"} {
				b.ReportMetric(float64(took[i].Microseconds())/1000/float64(runs), name+"-ms")
			}
		})
	}
}
