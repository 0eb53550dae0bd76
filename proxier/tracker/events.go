package tracker

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// The On* methods take an informer event: prev nil is an add, cur nil a
// delete. The Store is the source of truth for the previous state (prev
// only names the object on delete), so events missed or replayed by the
// informer cannot desynchronise the Tracker from the Store. Each method
// updates the Store before the pending change becomes visible, under the
// Tracker's lock, so a Take never reports a change the Store does not yet
// show.

// OnService records a Service event.
func (t *Tracker) OnService(prev, cur *v1.Service) {
	obj := cur
	if obj == nil {
		obj = prev
	}
	if obj == nil {
		return
	}
	name := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	t.mu.Lock()
	t.serviceUpdates++
	old := t.store.setService(name, cur)
	base, wasPending := t.services[name]
	if !wasPending {
		base = old
	}
	pending := !sameService(base, cur)
	if pending {
		t.services[name] = base
	} else {
		delete(t.services, name)
	}
	t.mu.Unlock()
	if pending && !wasPending {
		klog.V(4).InfoS("Service changed", "service", klog.KObj(obj))
		t.notify()
	}
}

// OnEndpointSlice records an EndpointSlice event. A slice without a
// kubernetes.io/service-name label is stored but belongs to no service.
func (t *Tracker) OnEndpointSlice(prev, cur *proxier.Slice) {
	obj := cur
	if obj == nil {
		obj = prev
	}
	if obj == nil {
		return
	}
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	t.mu.Lock()
	t.endpointUpdates++
	old := t.store.setSlice(key, cur)
	base, wasPending := t.slices[key]
	if !wasPending {
		base = old
	}
	pending := !sameSlice(base, cur)
	if pending {
		t.slices[key] = base
	} else {
		delete(t.slices, key)
	}
	if pending && cur != nil {
		t.recordTriggerLocked(old, cur, wasPending)
	}
	t.mu.Unlock()
	if pending && !wasPending {
		klog.V(4).InfoS("EndpointSlice changed", "endpointSlice", klog.KObj(obj))
		t.notify()
	}
}

// recordTriggerLocked keeps cur's last-change-trigger-time when this event
// (old to cur) changed something. On delete the annotation dates from the
// last update, not from the deletion, so deletes are never recorded
// (kube-proxy does the same).
func (t *Tracker) recordTriggerLocked(old, cur *proxier.Slice, wasPending bool) {
	svc, ok := serviceOf(cur)
	if !ok {
		return
	}
	tt := triggerTime(cur)
	if tt.IsZero() || !tt.After(t.start) {
		return
	}
	// When the slice was not pending, base was old and already differs.
	if wasPending && sameSlice(old, cur) {
		return
	}
	t.triggers[svc] = append(t.triggers[svc], tt)
}

// OnNode records an event for this node's Node object.
func (t *Tracker) OnNode(prev, cur *v1.Node) {
	obj := cur
	if obj == nil {
		obj = prev
	}
	if obj == nil {
		return
	}
	t.mu.Lock()
	old := t.store.setNode(cur)
	wasPending := t.nodePending
	if !wasPending {
		t.nodeBase = old
	}
	t.nodePending = !sameNode(t.nodeBase, cur)
	if !t.nodePending {
		t.nodeBase = nil
	}
	pending := t.nodePending
	t.mu.Unlock()
	if pending && !wasPending {
		klog.V(4).InfoS("Node changed", "node", klog.KObj(obj))
		t.notify()
	}
}
