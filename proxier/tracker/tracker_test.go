package tracker

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// Objects known before each case's steps (taken once, so they are the
// baseline).
var (
	svcA   = makeService("ns", "a")
	svcB   = makeService("ns", "b")
	sliceA = makeSlice("ns", "a-1", "a")
	sliceB = makeSlice("ns", "b-1", "b")
	node   = makeNode("n1")
)

func known(tr *Tracker) {
	tr.OnService(nil, svcA)
	tr.OnService(nil, svcB)
	tr.OnEndpointSlice(nil, proxier.NewSlice(sliceA))
	tr.OnEndpointSlice(nil, proxier.NewSlice(sliceB))
	tr.OnNode(nil, node)
}

type step func(*Tracker)

func svcEv(prev, cur *v1.Service) step {
	return func(t *Tracker) { t.OnService(prev, cur) }
}

func sliceEv(prev, cur *discovery.EndpointSlice) step {
	return func(t *Tracker) { t.OnEndpointSlice(proxier.NewSlice(prev), proxier.NewSlice(cur)) }
}

func nodeEv(prev, cur *v1.Node) step {
	return func(t *Tracker) { t.OnNode(prev, cur) }
}

func TestTrackerChanges(t *testing.T) {
	a, b, c := nn("ns", "a"), nn("ns", "b"), nn("ns", "c")
	svcC := makeService("ns", "c")
	svcA2 := updService(svcA, func(s *v1.Service) { s.Spec.Ports[0].Port = 81 })
	sliceA2 := updSlice(sliceA, func(s *discovery.EndpointSlice) { s.Endpoints[0].Addresses[0] = "198.18.200.2" })
	sliceMoved := updSlice(sliceA, withServiceLabel("b"))
	unlabelled := makeSlice("ns", "orphan", "")

	cases := []struct {
		name        string
		steps       []step
		want        []types.NamespacedName
		wantNode    bool
		wantNotify  int
		wantPending [2]int
	}{
		{name: "nothing"},
		{
			name:  "service added",
			steps: []step{svcEv(nil, svcC)},
			want:  []types.NamespacedName{c}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service no-op update: resourceVersion, managedFields, generation",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				withManagedFields(&s.ObjectMeta)
				s.UID = "changed-uid-is-metadata"
			}))},
		},
		{
			name: "service status condition only",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				s.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue}}
			}))},
		},
		{
			name: "service empty vs nil labels",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				s.Labels = map[string]string{}
			}))},
		},
		{
			name:  "service spec change",
			steps: []step{svcEv(svcA, svcA2)},
			want:  []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service annotation change",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				s.Annotations = map[string]string{"ipvs-proxy.io/scheduler": "wrr"}
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service label change",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				s.Labels = map[string]string{"service.kubernetes.io/service-proxy-name": "other"}
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service load-balancer status change",
			steps: []step{svcEv(svcA, updService(svcA, func(s *v1.Service) {
				s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "198.18.9.9"}}
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service recreated with a new creation time",
			steps: []step{svcEv(svcA, nil), svcEv(nil, updService(svcA, func(s *v1.Service) {
				s.CreationTimestamp = metav1.NewTime(created.Add(3600e9))
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name:  "service added then deleted",
			steps: []step{svcEv(nil, svcC), svcEv(svcC, nil)},
			want:  nil, wantNotify: 1,
		},
		{
			name:  "service deleted then recreated identical",
			steps: []step{svcEv(svcA, nil), svcEv(nil, updService(svcA))},
			want:  nil, wantNotify: 1,
		},
		{
			name:  "service deleted",
			steps: []step{svcEv(svcA, nil)},
			want:  []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name: "service updated three times",
			steps: []step{
				svcEv(svcA, svcA2),
				svcEv(svcA2, updService(svcA2, func(s *v1.Service) { s.Spec.Ports[0].Port = 82 })),
				svcEv(nil, updService(svcA2, func(s *v1.Service) { s.Spec.Ports[0].Port = 83 })),
			},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{1, 0},
		},
		{
			name:  "service updated then reverted",
			steps: []step{svcEv(svcA, svcA2), svcEv(svcA2, updService(svcA2, func(s *v1.Service) { s.Spec.Ports[0].Port = 80 }))},
			want:  nil, wantNotify: 1,
		},
		{
			name:  "slice added",
			steps: []step{sliceEv(nil, makeSlice("ns", "c-1", "c"))},
			want:  []types.NamespacedName{c}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name: "slice no-op update: resourceVersion, managedFields, trigger time",
			steps: []step{sliceEv(sliceA, updSlice(sliceA, func(s *discovery.EndpointSlice) {
				withManagedFields(&s.ObjectMeta)
				withTrigger(created.Time)(s)
			}))},
		},
		{
			name:  "slice endpoint change",
			steps: []step{sliceEv(sliceA, sliceA2)},
			want:  []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name: "slice readiness change",
			steps: []step{sliceEv(sliceA, updSlice(sliceA, func(s *discovery.EndpointSlice) {
				f := false
				s.Endpoints[0].Conditions.Ready = &f
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name: "slice port change",
			steps: []step{sliceEv(sliceA, updSlice(sliceA, func(s *discovery.EndpointSlice) {
				p := int32(9090)
				s.Ports[0].Port = &p
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name: "slice other label change",
			steps: []step{sliceEv(sliceA, updSlice(sliceA, func(s *discovery.EndpointSlice) {
				s.Labels["service.kubernetes.io/headless"] = ""
			}))},
			want: []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name:  "slice deleted",
			steps: []step{sliceEv(sliceA, nil)},
			want:  []types.NamespacedName{a}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name:       "slice added then deleted",
			steps:      []step{sliceEv(nil, makeSlice("ns", "c-1", "c")), sliceEv(makeSlice("ns", "c-1", "c"), nil)},
			wantNotify: 1,
		},
		{
			name:  "slice label moves to another service",
			steps: []step{sliceEv(sliceA, sliceMoved)},
			want:  []types.NamespacedName{a, b}, wantNotify: 1, wantPending: [2]int{0, 2},
		},
		{
			name:       "slice label moves away and back",
			steps:      []step{sliceEv(sliceA, sliceMoved), sliceEv(sliceMoved, updSlice(sliceMoved, withServiceLabel("a")))},
			wantNotify: 1,
		},
		{
			name:  "slice label moves, then endpoints change",
			steps: []step{sliceEv(sliceA, sliceMoved), sliceEv(sliceMoved, updSlice(sliceMoved, func(s *discovery.EndpointSlice) { s.Endpoints = nil }))},
			want:  []types.NamespacedName{a, b}, wantNotify: 1, wantPending: [2]int{0, 2},
		},
		{
			name:  "unlabelled slice added",
			steps: []step{sliceEv(nil, unlabelled)},
			want:  nil, wantNotify: 1,
		},
		{
			name:  "unlabelled slice gets a label",
			steps: []step{sliceEv(nil, unlabelled), sliceEv(unlabelled, updSlice(unlabelled, withServiceLabel("c")))},
			want:  []types.NamespacedName{c}, wantNotify: 1, wantPending: [2]int{0, 1},
		},
		{
			name:  "service and slice of one service",
			steps: []step{svcEv(svcA, svcA2), sliceEv(sliceA, sliceA2)},
			want:  []types.NamespacedName{a}, wantNotify: 2, wantPending: [2]int{1, 1},
		},
		{
			name: "requeued",
			steps: []step{func(t *Tracker) {
				t.Requeue([]types.NamespacedName{b, a, b})
			}},
			want: []types.NamespacedName{a, b},
		},
		{
			name: "node zone label",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				n.Labels[v1.LabelTopologyZone] = "zone-b"
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node zone label removed",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				delete(n.Labels, v1.LabelTopologyZone)
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node other label, heartbeat, condition",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				n.Labels["feature.node.kubernetes.io/cpu"] = "true"
				n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
				n.Spec.Taints = []v1.Taint{{Key: "other", Effect: v1.TaintEffectNoSchedule}}
			}))},
		},
		{
			name: "node address",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				n.Status.Addresses[0].Address = "198.18.0.11"
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node pod CIDRs",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "fd00:64::/64")
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node being deleted",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				now := metav1.Now()
				n.DeletionTimestamp = &now
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node tainted ToBeDeletedByClusterAutoscaler",
			steps: []step{nodeEv(node, updNode(node, func(n *v1.Node) {
				n.Spec.Taints = []v1.Taint{{Key: ToBeDeletedTaint, Effect: v1.TaintEffectNoSchedule}}
			}))},
			wantNode: true, wantNotify: 1,
		},
		{
			name:     "node deleted",
			steps:    []step{nodeEv(node, nil)},
			wantNode: true, wantNotify: 1,
		},
		{
			name: "node changed and reverted",
			steps: []step{
				nodeEv(node, updNode(node, func(n *v1.Node) { n.Labels[v1.LabelTopologyZone] = "zone-b" })),
				nodeEv(nil, updNode(node, func(n *v1.Node) { n.ResourceVersion = "9" })),
			},
			wantNotify: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			notified := 0
			tr := New(func() { notified++ })
			known(tr)
			tr.Take()
			notified = 0
			for _, s := range tc.steps {
				s(tr)
			}
			if notified != tc.wantNotify {
				t.Errorf("notify called %d times, want %d", notified, tc.wantNotify)
			}
			if got := tr.NodeChanged(); got != tc.wantNode {
				t.Errorf("NodeChanged() = %v, want %v", got, tc.wantNode)
			}
			s, e := tr.Pending()
			if diff := cmp.Diff(tc.wantPending, [2]int{s, e}); diff != "" {
				t.Errorf("Pending() (services, endpoints) mismatch (-want +got):\n%s", diff)
			}
			got := tr.Take()
			if diff := cmp.Diff(tc.want, got.Services, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Take().Services mismatch (-want +got):\n%s", diff)
			}
			if got.Node != tc.wantNode {
				t.Errorf("Take().Node = %v, want %v", got.Node, tc.wantNode)
			}
			if again := tr.Take(); !again.Empty() {
				t.Errorf("second Take() = %+v, want empty", again)
			}
		})
	}
}
