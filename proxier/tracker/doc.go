// Package tracker turns the stream of informer events into "which services
// must be rebuilt", and holds the current objects the reconcile engine
// reads.
//
// Data flows one way:
//
//	informers ──► Tracker.On{Service,EndpointSlice,Node}(prev, cur)
//	                 │  updates the Store (current objects, per-service slice index)
//	                 │  coalesces {state at last Take, current} per object
//	                 └─► notify() ──► runner.Trigger()
//	runner ──► sync ──► engine: Tracker.Take() ─► Changes{Services, Node, counts, trigger times}
//	                            Store.Service / EndpointSlices / Node ─► proxier.BuildService
//	                            Tracker.Requeue(failed services)
//
// A Tracker remembers, for every object touched since the last Take, the
// object as it was at that Take (the baseline; nil when the object did not
// exist). An event whose relevant content equals the baseline cancels the
// pending change, so a no-op update (new resourceVersion or managedFields
// only), an add followed by a delete, or an update reverted before the sync
// leave nothing pending, while any number of real updates stay one change.
// What is relevant is listed in equal.go: for Services the labels,
// annotations, creation time, spec and load-balancer status; for
// EndpointSlices, which arrive as proxier.Slice (the informer's transform
// keeps only what Build reads), the service-name and headless labels,
// address type, endpoints and ports; for the Node its zone label, addresses, pod
// CIDRs, deletion and the cluster-autoscaler ToBeDeleted taint.
//
// Slices are tracked per slice and reported per service through their
// kubernetes.io/service-name label; a slice whose label moves reports both
// services. Node changes are reported apart (Changes.Node) because they
// make the engine rebuild every service.
//
// Nothing may be applied before Services, EndpointSlices and the Node have
// all been listed (Synced): a sync on partial data would delete live
// virtual servers. The Tracker keeps accepting events meanwhile; the engine
// checks Synced before applying.
//
// Objects handed to the Tracker and returned by the Store are shared with
// the informer cache and must not be modified. The informer wiring unwraps
// cache.DeletedFinalStateUnknown before calling the On* methods.
//
// The model is kube-proxy's pkg/proxy/servicechangetracker.go and
// endpointschangetracker.go; unlike them the Tracker does not build service
// ports itself: proxier.BuildService does that from the Store.
package tracker
