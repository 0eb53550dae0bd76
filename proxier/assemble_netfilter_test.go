package proxier

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestNetfilterFollowsChangedGroups: a change that keeps a service's
// virtual servers (and so their winner) but changes their ports' netfilter
// attributes, source ranges, traffic policy or local endpoints, names the
// groups it changed; the intent followed through NetfilterChanges and
// NetfilterOf stays equal to Netfilter's. Without them the engine would
// leave the old attributes in nftables. An endpoint change that leaves the
// netfilter entries alone names no group.
func TestNetfilterFollowsChangedGroups(t *testing.T) {
	node, cfg := testNode(), Config{}
	name := types.NamespacedName{Namespace: "ns", Name: "lb"}
	lb := func(mut ...func(*v1.Service)) *v1.Service {
		return makeService("ns", "lb", append([]func(*v1.Service){clusterIPs("198.18.0.10"), loadBalancer(30010, "198.18.50.1")}, mut...)...)
	}
	ranges := func(r ...string) func(*v1.Service) {
		return func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = r }
	}
	local := []*discovery.EndpointSlice{makeSlice("ns", "lb", "lb-1", []discovery.Endpoint{ep("198.19.0.1", onNode(node.Name))})}
	remote := []*discovery.EndpointSlice{makeSlice("ns", "lb", "lb-1", []discovery.Endpoint{ep("198.19.0.1")})}
	steps := []struct {
		what   string
		svc    *v1.Service
		slices []*discovery.EndpointSlice
		none   bool // the change names no group
	}{
		{what: "created", svc: lb(), slices: remote},
		{what: "source ranges set", svc: lb(ranges("198.18.100.0/24")), slices: remote},
		{what: "source ranges changed", svc: lb(ranges("198.18.101.0/24", "198.18.100.0/24", "198.18.100.0/24")), slices: remote},
		{what: "externalTrafficPolicy Local", svc: lb(externalLocal), slices: remote},
		{what: "its endpoint now local", svc: lb(externalLocal), slices: local},
		{what: "a remote endpoint added", svc: lb(externalLocal), none: true, slices: []*discovery.EndpointSlice{
			makeSlice("ns", "lb", "lb-1", []discovery.Endpoint{ep("198.19.0.1", onNode(node.Name)), ep("198.19.0.2")})}},
		{what: "its local endpoint terminating", svc: lb(externalLocal), slices: []*discovery.EndpointSlice{
			makeSlice("ns", "lb", "lb-1", []discovery.Endpoint{ep("198.19.0.1", onNode(node.Name), terminating(false)), ep("198.19.0.2")})}},
		{what: "deleted"},
	}
	a := NewAssembler()
	nf := a.Netfilter(&cfg, &node, nil)
	for _, st := range steps {
		var frag *ServiceState
		if st.svc != nil {
			frag, _ = BuildService(st.svc, NewSlices(st.slices), node, cfg)
		}
		a.Set(name, frag, nil)
		g := a.NetfilterChanges()
		part := a.NetfilterOf(&g, &cfg, &node, nil)
		nf = nf.ReplaceGroups(&g, &part)
		want := a.Netfilter(&cfg, &node, nil)
		if got, w := strings.Join(nf.Lines(), "\n"), strings.Join(want.Lines(), "\n"); got != w {
			t.Fatalf("%s: followed intent\n%s\nwant\n%s", st.what, got, w)
		}
		if st.none && !g.Empty() {
			t.Errorf("%s: named groups %+v", st.what, g)
		}
	}
}
