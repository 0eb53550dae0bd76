//go:build vmtest

package netfilter_test

import (
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ServicePorts reads back, from the kernel's service-ports sets of both
// tables, every cluster, external and load-balancer port applied: the
// record by which a restarted engine knows the virtual servers it created
// on host addresses. No tables: no ports.
func TestServicePortsReadsTheRecord(t *testing.T) {
	k, _ := newKernel(t)
	if got, err := k.ServicePorts(); err != nil || len(got) != 0 {
		t.Fatalf("before Apply: %v, %v; want none", got, err)
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
	got, err := k.ServicePorts()
	if err != nil {
		t.Fatalf("ServicePorts: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ServicePorts = %v\nwant %v", got, want)
	}
}
