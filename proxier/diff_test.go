package proxier

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// diffFixture is a small cluster: a web service with a load balancer and
// node port, and a DNS service.
func diffFixture(mut ...func(*[]*v1.Service, *[]*discovery.EndpointSlice)) *model.State {
	svcs := []*v1.Service{
		makeService("ns", "web", loadBalancer(30080, "198.18.5.5")),
		makeService("kube-system", "dns", clusterIPs("198.18.0.53"), func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 53, Protocol: v1.ProtocolUDP}}
		}),
	}
	sls := []*discovery.EndpointSlice{
		twoBackends("web"),
		makeSlice("kube-system", "dns", "dns-1", []discovery.Endpoint{ep("198.18.11.1"), ep("198.18.11.2")}, func(sl *discovery.EndpointSlice) {
			sl.Ports[0].Protocol = new(v1.ProtocolUDP)
		}),
	}
	for _, m := range mut {
		m(&svcs, &sls)
	}
	st, _ := Build(svcs, sls, testNode(), Config{})
	return st
}

func TestDiffFromEmpty(t *testing.T) {
	plan := Diff(diffFixture(), model.NewState())
	golden(t, "TestDiffFromEmpty", plan.String())
}

func TestDiffNoChange(t *testing.T) {
	if plan := Diff(diffFixture(), diffFixture()); !plan.Empty() {
		t.Errorf("identical states gave a plan:\n%s", plan)
	}
}

func TestDiffChanges(t *testing.T) {
	observed := diffFixture()
	desired := diffFixture(func(svcs *[]*v1.Service, sls *[]*discovery.EndpointSlice) {
		// web: one backend terminating, one new; scheduler changed; LB IP gone.
		(*svcs)[0] = makeService("ns", "web", nodePort(30080), annotate(AnnotationScheduler, "mh"))
		(*sls)[0] = makeSlice("ns", "web", "web-1", []discovery.Endpoint{
			ep("198.18.10.1", onNode("node-a"), terminating(true)), ep("198.18.10.2"), ep("198.18.10.3")})
		// dns removed.
		*svcs = (*svcs)[:1]
	})
	plan := Diff(desired, observed)
	golden(t, "TestDiffChanges", plan.String())

	// Applying the plan to the observed state yields the desired one.
	applied := applyPlan(t, observed, plan)
	if again := Diff(desired, applied); !again.Empty() {
		t.Errorf("plan did not converge; remaining:\n%s", again)
	}
}

// TestDiffOrder checks the order that keeps traffic flowing: a virtual
// server and its real servers exist before its address is bound, and an
// address is unbound before its virtual server goes.
func TestDiffOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		from, to    *model.State
		first, then string
	}{
		{"add", model.NewState(), diffFixture(), "-a -t 198.18.0.10:80", "addr add 198.18.0.10/32"},
		{"remove", diffFixture(), model.NewState(), "addr del 198.18.0.10/32", "-D -t 198.18.0.10:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Diff(tc.to, tc.from).String()
			i, j := strings.Index(s, tc.first), strings.Index(s, tc.then)
			if i < 0 || j < 0 || i > j {
				t.Errorf("want %q before %q in:\n%s", tc.first, tc.then, s)
			}
		})
	}
}

// applyPlan applies a plan to a copy of a state, as a kernel would.
func applyPlan(t *testing.T, st *model.State, plan *model.Plan) *model.State {
	t.Helper()
	out := st.Clone()
	for _, op := range plan.Ops {
		k := op.VS.VSKey
		switch op.Kind {
		case model.OpAddVirtualServer, model.OpUpdateVirtualServer:
			svc := out.Services[k]
			if svc == nil {
				svc = &model.Service{}
				out.Services[k] = svc
			}
			svc.VirtualServer = op.VS
		case model.OpDeleteVirtualServer:
			delete(out.Services, k)
		case model.OpAddRealServer, model.OpUpdateRealServer:
			svc := out.Services[k]
			svc.Reals = append(deleteReal(svc.Reals, op.RS.RSKey), op.RS)
			svc.SortReals()
		case model.OpDeleteRealServer:
			out.Services[k].Reals = deleteReal(out.Services[k].Reals, op.RS.RSKey)
		case model.OpBindAddress:
			out.Addresses[op.Addr] = struct{}{}
		case model.OpUnbindAddress:
			delete(out.Addresses, op.Addr)
		}
	}
	if plan.Netfilter != nil {
		out.Netfilter = *plan.Netfilter
	}
	return out
}

func deleteReal(rs []model.RealServer, k model.RSKey) []model.RealServer {
	out := rs[:0:0]
	for _, r := range rs {
		if r.RSKey != k {
			out = append(out, r)
		}
	}
	return out
}
