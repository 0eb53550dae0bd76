//go:build vmtest

package netfilter_test

import (
	"cmp"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Record reads back, from the kernel's service-ports and node-ports sets
// of both tables, every cluster, external and load-balancer port applied
// and every node port: the record by which a restarted engine knows the
// virtual servers it created on host addresses and those a previous run
// programmed. No tables: an empty record.
func TestRecordReadsBack(t *testing.T) {
	k, _ := newKernel(t)
	snap, err := k.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot before Apply: %v", err)
	}
	if got := snap.Record(); len(got.Ports)+len(got.NodePorts) != 0 {
		t.Fatalf("before Apply: %v; want none", got)
	}
	n := dualStack()
	if err := k.Apply(n); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var want []model.VSKey
	for _, p := range n.Ports {
		if p.Kind != model.KindNodePort {
			want = append(want, p.VSKey)
		}
	}
	slices.SortFunc(want, model.VSKey.Compare)
	want = slices.Compact(want)
	var wantNP []model.NodePort
	for _, np := range n.NodePorts {
		wantNP = append(wantNP, model.NodePort{Proto: np.Proto, Port: np.Port})
	}
	slices.SortFunc(wantNP, func(a, b model.NodePort) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	wantNP = slices.Compact(wantNP)
	if snap, err = k.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	got := snap.Record()
	if !slices.Equal(got.Ports, want) {
		t.Errorf("Record().Ports = %v\nwant %v", got.Ports, want)
	}
	if len(wantNP) == 0 || !slices.Equal(got.NodePorts, wantNP) {
		t.Errorf("Record().NodePorts = %v\nwant %v (and some)", got.NodePorts, wantNP)
	}
}
