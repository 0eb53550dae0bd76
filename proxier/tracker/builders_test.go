package tracker

import (
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var created = metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))

func nn(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// makeService returns a ClusterIP service with one TCP port, then applies mods.
func makeService(ns, name string, mods ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1", CreationTimestamp: created},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  "198.18.100.1",
			ClusterIPs: []string{"198.18.100.1"},
			Ports:      []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// makeSlice returns an IPv4 slice of service svc ("" leaves the
// service-name label out) with one ready endpoint, then applies mods.
func makeSlice(ns, name, svc string, mods ...func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	ready := true
	port, proto := int32(8080), v1.ProtocolTCP
	pname := "http"
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, ResourceVersion: "1",
			Labels: map[string]string{discovery.LabelManagedBy: "endpointslice-controller.k8s.io"},
		},
		AddressType: discovery.AddressTypeIPv4,
		Endpoints: []discovery.Endpoint{{
			Addresses:  []string{"198.18.200.1"},
			Conditions: discovery.EndpointConditions{Ready: &ready},
		}},
		Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
	}
	if svc != "" {
		s.Labels[discovery.LabelServiceName] = svc
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// makeNode returns a node with a zone label and one InternalIP, then applies mods.
func makeNode(name string, mods ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, ResourceVersion: "1",
			Labels: map[string]string{v1.LabelTopologyZone: "zone-a", v1.LabelHostname: name},
		},
		Spec: v1.NodeSpec{PodCIDRs: []string{"198.18.64.0/24"}},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: "198.18.0.10"},
			{Type: v1.NodeHostName, Address: name},
		}},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

// bump returns the next resourceVersion, as the API server would on update.
func bump(rv string) string {
	n, _ := strconv.Atoi(rv)
	return strconv.Itoa(n + 1)
}

// updService returns a modified copy of s with a new resourceVersion.
func updService(s *v1.Service, mods ...func(*v1.Service)) *v1.Service {
	c := s.DeepCopy()
	c.ResourceVersion = bump(c.ResourceVersion)
	for _, m := range mods {
		m(c)
	}
	return c
}

// updSlice returns a modified copy of s with a new resourceVersion.
func updSlice(s *discovery.EndpointSlice, mods ...func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	c := s.DeepCopy()
	c.ResourceVersion = bump(c.ResourceVersion)
	for _, m := range mods {
		m(c)
	}
	return c
}

// updNode returns a modified copy of n with a new resourceVersion.
func updNode(n *v1.Node, mods ...func(*v1.Node)) *v1.Node {
	c := n.DeepCopy()
	c.ResourceVersion = bump(c.ResourceVersion)
	for _, m := range mods {
		m(c)
	}
	return c
}

// withTrigger sets the last-change-trigger-time annotation.
func withTrigger(t time.Time) func(*discovery.EndpointSlice) {
	return func(s *discovery.EndpointSlice) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[v1.EndpointsLastChangeTriggerTime] = t.Format(time.RFC3339Nano)
	}
}

// withServiceLabel moves a slice to service svc.
func withServiceLabel(svc string) func(*discovery.EndpointSlice) {
	return func(s *discovery.EndpointSlice) { s.Labels[discovery.LabelServiceName] = svc }
}

// withManagedFields adds the kind of metadata an apply touches without
// changing content.
func withManagedFields(m *metav1.ObjectMeta) {
	m.ManagedFields = append(m.ManagedFields, metav1.ManagedFieldsEntry{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply})
	m.Generation++
}
