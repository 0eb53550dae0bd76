package proxier

import (
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Slice is what the proxy keeps of a discovery/v1 EndpointSlice: the
// fields Build and the tracker read, and nothing else. The daemon's
// informer turns each slice into one as it arrives (its transform) and
// caches only this form, which is the proxy's one copy of the endpoints:
// at 10 endpoints a Slice is about 1.5 KB smaller than the API object
// with the fields Build ignores already dropped (issue 14: the informer
// cache was the largest part of the heap). Build takes API objects and
// converts them, so `ipvs-proxy plan` and tests pass what kubectl shows.
//
// A Slice is never modified once made; the tracker and the informer's
// cache share it.
type Slice struct {
	Namespace, Name string
	// ResourceVersion is kept for the informer: an update whose resource
	// version is unchanged is a resync, which it does not deliver.
	ResourceVersion string
	// Service is the kubernetes.io/service-name label ("" without it).
	Service string
	// Headless is whether the slice is labelled service.kubernetes.io/headless.
	Headless    bool
	AddressType discovery.AddressType
	Ports       []discovery.EndpointPort
	Endpoints   []SliceEndpoint
	// TriggerTime is the endpoints.kubernetes.io/last-change-trigger-time
	// annotation, as written (it only feeds a metric).
	TriggerTime string
}

// SliceEndpoint is one endpoint of a Slice, with its conditions resolved
// as the API documents them and kube-proxy reads them
// (EndpointSliceCache.addEndpoints): ready and serving default to true,
// terminating to false. So a terminating endpoint without serving still
// serves: it is a KEP-1669 fallback when no endpoint is ready.
type SliceEndpoint struct {
	// Address is the first of the endpoint's addresses, as written (the
	// only one kube-proxy reads); NoAddress says it had none.
	Address  string
	NodeName *string
	Hints    *discovery.EndpointHints
	// NoAddress, Ready, Serving and Terminating are the flags above.
	NoAddress, Ready, Serving, Terminating bool
}

// NewSlice returns the Slice of sl; nil for nil. It shares sl's ports,
// hints and node names, so sl must not be modified afterwards.
func NewSlice(sl *discovery.EndpointSlice) *Slice {
	if sl == nil {
		return nil
	}
	_, headless := sl.Labels[v1.IsHeadlessService]
	s := &Slice{
		Namespace:       sl.Namespace,
		Name:            sl.Name,
		ResourceVersion: sl.ResourceVersion,
		Service:         sl.Labels[discovery.LabelServiceName],
		Headless:        headless,
		AddressType:     sl.AddressType,
		Ports:           sl.Ports,
		TriggerTime:     sl.Annotations[v1.EndpointsLastChangeTriggerTime],
	}
	if len(sl.Endpoints) > 0 {
		s.Endpoints = make([]SliceEndpoint, len(sl.Endpoints))
	}
	for i := range sl.Endpoints {
		e := &sl.Endpoints[i]
		c := &e.Conditions
		out := SliceEndpoint{
			NodeName:    e.NodeName,
			Hints:       e.Hints,
			NoAddress:   len(e.Addresses) == 0,
			Ready:       c.Ready == nil || *c.Ready,
			Serving:     c.Serving == nil || *c.Serving,
			Terminating: c.Terminating != nil && *c.Terminating,
		}
		if !out.NoAddress {
			out.Address = e.Addresses[0]
		}
		s.Endpoints[i] = out
	}
	return s
}

// NewSlices converts a list of slices (NewSlice).
func NewSlices(sls []*discovery.EndpointSlice) []*Slice {
	if sls == nil {
		return nil
	}
	out := make([]*Slice, len(sls))
	for i, sl := range sls {
		out[i] = NewSlice(sl)
	}
	return out
}

// GetName and GetNamespace make a Slice a klog.KMetadata.
func (s *Slice) GetName() string      { return s.Name }
func (s *Slice) GetNamespace() string { return s.Namespace }

// GetObjectMeta gives the informer's cache the slice's key and resource
// version (meta.Accessor takes an ObjectMetaAccessor).
func (s *Slice) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, ResourceVersion: s.ResourceVersion}
}
