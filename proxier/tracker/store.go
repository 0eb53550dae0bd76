package tracker

import (
	"cmp"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// Store holds the current Services, EndpointSlices and Node as the Tracker
// last saw them. It is safe for concurrent use. Lookups cost O(slices of
// one service), never O(all objects), so an incremental sync does not grow
// with the number of unchanged services. Returned objects are shared and
// must not be modified.
type Store struct {
	mu       sync.RWMutex
	services map[types.NamespacedName]*v1.Service
	// names caches the sorted service names; nil after a service was added
	// or removed.
	names []types.NamespacedName
	// slices holds every slice by its own namespace/name, including slices
	// without a service-name label (so a label added later is a move from
	// "no service").
	slices map[types.NamespacedName]*proxier.Slice
	// byService indexes labelled slices by service, sorted by slice name:
	// a slice, not a map, since most services have one slice (a map per
	// service was 2.5 MB at 10,000 services; issue 14).
	byService map[types.NamespacedName][]*proxier.Slice
	node      *v1.Node
}

func newStore() *Store {
	return &Store{
		services:  make(map[types.NamespacedName]*v1.Service),
		slices:    make(map[types.NamespacedName]*proxier.Slice),
		byService: make(map[types.NamespacedName][]*proxier.Slice),
	}
}

// Service returns the named Service, or nil when it does not exist.
func (s *Store) Service(name types.NamespacedName) *v1.Service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.services[name]
}

// EndpointSlices returns the slices labelled for the named service, sorted
// by slice name; nil when there are none. The slice is the caller's.
func (s *Store) EndpointSlices(name types.NamespacedName) []*proxier.Slice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if idx := s.byService[name]; len(idx) > 0 {
		return slices.Clone(idx)
	}
	return nil
}

// ServiceNames returns the names of all Services, sorted by namespace then
// name. The slice is the caller's.
func (s *Store) ServiceNames() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = make([]types.NamespacedName, 0, len(s.services))
		for name := range s.services {
			s.names = append(s.names, name)
		}
		slices.SortFunc(s.names, compareNames)
	}
	return slices.Clone(s.names)
}

// Node returns the Node, or nil before it was seen or after it was deleted.
func (s *Store) Node() *v1.Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.node
}

// setService stores svc (nil deletes) under name and returns what was there.
func (s *Store) setService(name types.NamespacedName, svc *v1.Service) *v1.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, existed := s.services[name]
	if svc == nil {
		delete(s.services, name)
	} else {
		s.services[name] = svc
	}
	if existed != (svc != nil) {
		s.names = nil
	}
	return old
}

// setSlice stores sl (nil deletes) under key, moves it in the per-service
// index when its service-name label changed, and returns what was there.
func (s *Store) setSlice(key types.NamespacedName, sl *proxier.Slice) *proxier.Slice {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.slices[key]
	if svc, ok := serviceOf(old); ok {
		idx := s.byService[svc]
		if i, found := sliceIndex(idx, key.Name); found {
			idx = slices.Delete(idx, i, i+1)
		}
		if len(idx) == 0 {
			delete(s.byService, svc)
		} else {
			s.byService[svc] = idx
		}
	}
	if sl == nil {
		delete(s.slices, key)
		return old
	}
	s.slices[key] = sl
	if svc, ok := serviceOf(sl); ok {
		idx := s.byService[svc]
		i, _ := sliceIndex(idx, key.Name)
		s.byService[svc] = slices.Insert(idx, i, sl)
	}
	return old
}

// sliceIndex is where the slice named name is, or would be inserted, in
// idx, sorted by name, and whether it is there.
func sliceIndex(idx []*proxier.Slice, name string) (int, bool) {
	return slices.BinarySearchFunc(idx, name, func(sl *proxier.Slice, name string) int {
		return cmp.Compare(sl.Name, name)
	})
}

// slice returns the stored slice named key, or nil.
func (s *Store) slice(key types.NamespacedName) *proxier.Slice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.slices[key]
}

// setNode stores n (nil deletes) and returns the previous Node.
func (s *Store) setNode(n *v1.Node) *v1.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.node
	s.node = n
	return old
}

// serviceOf returns the service a slice belongs to, from its
// kubernetes.io/service-name label; false for nil or unlabelled slices.
func serviceOf(sl *proxier.Slice) (types.NamespacedName, bool) {
	if sl == nil {
		return types.NamespacedName{}, false
	}
	name := sl.Service
	if name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: sl.Namespace, Name: name}, true
}

// compareNames orders service names by namespace, then name.
func compareNames(a, b types.NamespacedName) int {
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}
