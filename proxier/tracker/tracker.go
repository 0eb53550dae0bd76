package tracker

import (
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// Kind names one of the object kinds that must be listed before a sync.
type Kind int

// The kinds SetSynced accepts.
const (
	Services Kind = iota
	EndpointSlices
	Node
	numKinds
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Services:
		return "Services"
	case EndpointSlices:
		return "EndpointSlices"
	case Node:
		return "Node"
	}
	return "Kind(?)"
}

// Changes is what changed since the previous Take.
type Changes struct {
	// Services are the services whose Service or EndpointSlices changed, or
	// that were requeued, sorted and unique. A name may belong to a service
	// that no longer exists: the engine removes what it had for it.
	Services []types.NamespacedName
	// Node is true when the Node changed in a way that affects every
	// service (see sameNode); the engine then rebuilds everything.
	Node bool
	// ServiceUpdates and EndpointUpdates count the Service and EndpointSlice
	// events received, no-ops included, as kube-proxy counts them for
	// kubeproxy_sync_proxy_rules_{service,endpoint}_changes_total.
	ServiceUpdates, EndpointUpdates int
	// TriggerTimes holds, for services in Services, the
	// endpoints.kubernetes.io/last-change-trigger-time of each slice update
	// that changed something, for kubeproxy_network_programming_duration_seconds.
	// Times from before the Tracker started (the initial list) are left out.
	TriggerTimes map[types.NamespacedName][]time.Time
}

// Empty reports whether there is nothing to rebuild.
func (c *Changes) Empty() bool { return len(c.Services) == 0 && !c.Node }

// Tracker coalesces informer events into pending changes and keeps the
// Store current. It is safe for concurrent use.
type Tracker struct {
	notify func()
	store  *Store
	// start bounds trigger times: older ones come from the initial list and
	// would report the age of the object, not a programming latency.
	start time.Time

	mu sync.Mutex
	// services maps each service with a pending Service change to its
	// Service at the last Take (nil: it did not exist).
	services map[types.NamespacedName]*v1.Service
	// slices maps each slice (by namespace/name) with a pending change to
	// the slice at the last Take (nil: it did not exist).
	slices      map[types.NamespacedName]*proxier.Slice
	nodePending bool
	nodeBase    *v1.Node
	requeued    map[types.NamespacedName]struct{}
	triggers    map[types.NamespacedName][]time.Time

	serviceUpdates, endpointUpdates int
	synced                          [numKinds]bool
}

// New returns an empty Tracker. notify (may be nil) is called, outside any
// lock, whenever a change becomes pending and when the last kind is marked
// synced; it must not block (runner.Trigger does not).
func New(notify func()) *Tracker {
	if notify == nil {
		notify = func() {}
	}
	return &Tracker{
		notify:   notify,
		store:    newStore(),
		start:    time.Now(),
		services: make(map[types.NamespacedName]*v1.Service),
		slices:   make(map[types.NamespacedName]*proxier.Slice),
		requeued: make(map[types.NamespacedName]struct{}),
		triggers: make(map[types.NamespacedName][]time.Time),
	}
}

// Store returns the store of current objects the Tracker keeps up to date.
func (t *Tracker) Store() *Store { return t.store }

// SetSynced records that the initial list of kind has been delivered.
func (t *Tracker) SetSynced(kind Kind) {
	if kind < 0 || kind >= numKinds {
		return
	}
	t.mu.Lock()
	was := t.allSynced()
	t.synced[kind] = true
	now := t.allSynced()
	t.mu.Unlock()
	if now && !was {
		t.notify()
	}
}

// Synced reports whether Services, EndpointSlices and the Node have all
// been listed. Nothing may be applied before: a sync on partial data would
// delete live virtual servers.
func (t *Tracker) Synced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allSynced()
}

func (t *Tracker) allSynced() bool {
	for _, s := range t.synced {
		if !s {
			return false
		}
	}
	return true
}

// NodeChanged reports whether a Node change is pending.
func (t *Tracker) NodeChanged() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodePending
}

// Pending returns the number of services with a pending Service change and
// the number with a pending EndpointSlice change, for the
// kubeproxy_sync_proxy_rules_{service,endpoint}_changes_pending gauges.
// Requeued services are not counted: they are retries, not changes.
func (t *Tracker) Pending() (services, endpoints int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := make(map[types.NamespacedName]struct{})
	t.sliceServicesLocked(set)
	return len(t.services), len(set)
}

// Requeue puts back services whose sync failed, so the next Take returns
// them again. It does not notify: the sync that failed asks the runner for
// a retry (its retryAfter), which keeps the retry on the backoff schedule.
func (t *Tracker) Requeue(names []types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range names {
		t.requeued[n] = struct{}{}
	}
}

// Take returns what changed since the previous Take and clears it: from now
// on, baselines are the objects as they are in the Store.
func (t *Tracker) Take() Changes {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := make(map[types.NamespacedName]struct{}, len(t.services)+len(t.slices)+len(t.requeued))
	for n := range t.services {
		set[n] = struct{}{}
	}
	t.sliceServicesLocked(set)
	for n := range t.requeued {
		set[n] = struct{}{}
	}
	c := Changes{
		Services:        make([]types.NamespacedName, 0, len(set)),
		Node:            t.nodePending,
		ServiceUpdates:  t.serviceUpdates,
		EndpointUpdates: t.endpointUpdates,
		TriggerTimes:    make(map[types.NamespacedName][]time.Time),
	}
	for n := range set {
		c.Services = append(c.Services, n)
	}
	slices.SortFunc(c.Services, compareNames)
	for n, times := range t.triggers {
		if _, ok := set[n]; ok {
			c.TriggerTimes[n] = times
		}
	}
	t.services = make(map[types.NamespacedName]*v1.Service)
	t.slices = make(map[types.NamespacedName]*proxier.Slice)
	t.requeued = make(map[types.NamespacedName]struct{})
	t.triggers = make(map[types.NamespacedName][]time.Time)
	t.nodePending, t.nodeBase = false, nil
	t.serviceUpdates, t.endpointUpdates = 0, 0
	return c
}

// sliceServicesLocked adds to set the services of pending slices: the one
// each slice belonged to at the last Take and the one it belongs to now.
func (t *Tracker) sliceServicesLocked(set map[types.NamespacedName]struct{}) {
	for key, base := range t.slices {
		if n, ok := serviceOf(base); ok {
			set[n] = struct{}{}
		}
		if n, ok := serviceOf(t.store.slice(key)); ok {
			set[n] = struct{}{}
		}
	}
}
