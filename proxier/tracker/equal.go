package tracker

import (
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// ToBeDeletedTaint is the taint the cluster autoscaler puts on a node it is
// about to remove; kube-proxy fails /healthz on such a node so load
// balancers move away before it goes (KEP-3836).
const ToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// nodeLabels are the Node labels Build reads. Other labels change often in
// some clusters (feature discovery, schedulers) and must not cause a full
// rebuild.
var nodeLabels = []string{v1.LabelTopologyZone}

// The comparisons below decide what counts as a change. They take the
// objects' fields by pointer so no large struct is copied, and use
// equality.Semantic, which treats nil and empty maps and slices alike.

// sameService reports whether a and b (either may be nil) are the same for
// the proxy: labels, annotations, creation time (conflict resolution picks
// the oldest service), spec and load-balancer status.
func sameService(a, b *v1.Service) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.CreationTimestamp.Equal(&b.CreationTimestamp) &&
		equality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		equality.Semantic.DeepEqual(a.Annotations, b.Annotations) &&
		equality.Semantic.DeepEqual(&a.Spec, &b.Spec) &&
		equality.Semantic.DeepEqual(&a.Status.LoadBalancer, &b.Status.LoadBalancer)
}

// sameSlice reports whether a and b (either may be nil) are the same for the
// proxy: the labels Build reads (service name, headless), address type,
// endpoints and ports. The last-change-trigger-time is not compared: it
// only feeds a metric.
func sameSlice(a, b *proxier.Slice) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.AddressType == b.AddressType && a.Service == b.Service && a.Headless == b.Headless &&
		slices.EqualFunc(a.Endpoints, b.Endpoints, sameEndpoint) &&
		equality.Semantic.DeepEqual(a.Ports, b.Ports)
}

func sameEndpoint(a, b proxier.SliceEndpoint) bool {
	return a.Address == b.Address && a.NoAddress == b.NoAddress && a.Ready == b.Ready &&
		a.Serving == b.Serving && a.Terminating == b.Terminating &&
		(a.NodeName == nil) == (b.NodeName == nil) && (a.NodeName == nil || *a.NodeName == *b.NodeName) &&
		equality.Semantic.DeepEqual(a.Hints, b.Hints)
}

// sameNode reports whether a and b (either may be nil) are the same for the
// proxy: the labels in nodeLabels, addresses, pod CIDRs (detect-local-mode
// NodeCIDR), whether it is being deleted and whether it carries
// ToBeDeletedTaint.
func sameNode(a, b *v1.Node) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	for _, l := range nodeLabels {
		va, oka := a.Labels[l]
		vb, okb := b.Labels[l]
		if va != vb || oka != okb {
			return false
		}
	}
	return (a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil) &&
		ToBeDeleted(a) == ToBeDeleted(b) &&
		slices.Equal(a.Spec.PodCIDRs, b.Spec.PodCIDRs) &&
		equality.Semantic.DeepEqual(a.Status.Addresses, b.Status.Addresses)
}

// ToBeDeleted reports whether the node carries ToBeDeletedTaint.
func ToBeDeleted(n *v1.Node) bool {
	if n == nil {
		return false
	}
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == ToBeDeletedTaint {
			return true
		}
	}
	return false
}

// triggerTime returns the slice's endpoints.kubernetes.io/last-change-trigger-time,
// or the zero time when it is missing or invalid.
func triggerTime(sl *proxier.Slice) time.Time {
	v := sl.TriggerTime
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		klog.V(4).InfoS("Ignored invalid last-change-trigger-time", "endpointSlice", klog.KObj(sl), "value", v)
		return time.Time{}
	}
	return t
}
