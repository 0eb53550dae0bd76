package daemon

import (
	"fmt"
	"runtime"
	"testing"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/test/bench"
)

// BenchmarkCachedSlice reports the heap one cached EndpointSlice of the
// VM benchmark's kind (10 endpoints, each with a pod reference, as the
// EndpointSlice controller writes them; the metadata the API server adds)
// holds: decoded from protobuf, as the informers receive it, then through
// the informers' transform (cached-B/slice), against the decoded object
// kept whole (decoded-B/slice). Session 12: 5,504 decoded; cached 2,345
// with the fields Build ignores dropped from the API object, 888 as a
// proxier.Slice.
func BenchmarkCachedSlice(b *testing.B) {
	const n = 10000
	wire := make([][]byte, n)
	for i := range n {
		sl := bench.Slice(i)
		sl.UID = types.UID(fmt.Sprintf("00000000-0000-4000-9000-%012x", i))
		sl.ResourceVersion = fmt.Sprint(1000000 + i)
		sl.Generation = 1
		sl.CreationTimestamp = metav1.Unix(1800000000, 0)
		sl.Labels[discovery.LabelManagedBy] = "endpointslice-controller.k8s.io"
		sl.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
			APIVersion: "discovery.k8s.io/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:addressType":{},"f:endpoints":{},"f:ports":{}}`)}}}
		data, err := sl.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		wire[i] = data
	}
	for _, tc := range []struct {
		name      string
		transform func(any) (any, error)
	}{
		{"decoded", func(o any) (any, error) { return o, nil }},
		{"cached", slimObjects},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perSlice float64
			for b.Loop() {
				perSlice = retained(b, wire, tc.transform)
			}
			b.ReportMetric(perSlice, tc.name+"-B/slice")
		})
	}
}

// retained decodes every slice, transforms it and keeps the results, and
// returns the live heap they take per slice.
func retained(b *testing.B, wire [][]byte, transform func(any) (any, error)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := make([]any, len(wire))
	for i, data := range wire {
		sl := &discovery.EndpointSlice{}
		if err := sl.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
		obj, err := transform(sl)
		if err != nil {
			b.Fatal(err)
		}
		kept[i] = obj
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(wire))
}
