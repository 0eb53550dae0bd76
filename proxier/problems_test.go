package proxier

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Bad input is reported with the object's name and skipped; everything else
// is still built.
func TestBuildBadInput(t *testing.T) {
	good := makeService("ns", "good", clusterIPs("198.18.0.20"))
	goodSlice := twoBackends("good")
	runBuildCases(t, []buildCase{{
		name:     "unparsable cluster IP skips that address only",
		services: []*v1.Service{good, makeService("ns", "bad", clusterIPs("198.18.0.300", "fd00::30"))},
		slices:   []*discovery.EndpointSlice{goodSlice},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.20:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp [fd00::30]:80")
			expectProblems(t, p, `Service ns/bad: clusterIPs: "198.18.0.300" is not a valid IP`)
		},
	}, {
		name: "ports out of range and duplicate ports are skipped",
		services: []*v1.Service{good, makeService("ns", "bad", clusterIPs("198.18.0.30"), func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "a", Port: 70000}, {Name: "b", Port: 81, Protocol: "TCP"}, {Name: "c", Port: 81, Protocol: "TCP"},
				{Name: "d", Port: 82, Protocol: "ICMP"}, {Name: "e", Port: 81, Protocol: "UDP"}}
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.30:81")
			expectRoute(t, st, "udp 198.18.0.30:81")
			expectProblems(t, p, "port 70000 out of range", "duplicate port 81/tcp", `unsupported protocol "ICMP"`)
		},
	}, {
		name: "invalid external IP and source range are skipped",
		services: []*v1.Service{makeService("ns", "bad", loadBalancer(0, "198.18.5.5", "not-an-ip"), func(s *v1.Service) {
			s.Spec.ExternalIPs = []string{"198.18.6.6", "fe80::1%eth0"}
			s.Spec.LoadBalancerSourceRanges = []string{"198.18.100.0/24", "garbage"}
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.6.6:80")
			expectRoute(t, st, "tcp 198.18.5.5:80")
			expectAddresses(t, st, "198.18.0.10", "198.18.5.5", "198.18.6.6")
			expectProblems(t, p, `externalIPs: "fe80::1%eth0"`, `status.loadBalancer.ingress: "not-an-ip"`, `loadBalancerSourceRanges: "garbage"`)
		},
	}, {
		name:     "slices for unknown services, without label, and bad endpoint addresses are reported",
		services: []*v1.Service{good},
		slices: []*discovery.EndpointSlice{
			makeSlice("ns", "good", "good-1", []discovery.Endpoint{ep("198.18.10.1"), ep("fd00::5"), ep("bogus")}),
			makeSlice("ns", "ghost", "ghost-1", []discovery.Endpoint{ep("198.18.10.9")}),
			makeSlice("ns", "", "orphan", []discovery.Endpoint{ep("198.18.10.9")}, func(sl *discovery.EndpointSlice) { sl.Labels = nil }),
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.20:80", "198.18.10.1:8080")
			expectProblems(t, p, "ns/ghost-1: belongs to unknown service ns/ghost", "ns/orphan: has no kubernetes.io/service-name label",
				"ns/good-1: endpoint address fd00::5 does not match address type IPv4", `ns/good-1: endpoint address "bogus" is not a valid IP`)
		},
	}, {
		name: "a conflicting virtual server stays with the older service",
		services: []*v1.Service{
			makeService("ns", "newer", clusterIPs("198.18.0.41"), func(s *v1.Service) {
				s.CreationTimestamp = metav1.NewTime(epoch.Add(time.Hour))
				s.Spec.ExternalIPs = []string{"198.18.6.6"}
			}),
			makeService("ns", "older", clusterIPs("198.18.0.40"), func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.18.6.6"} }),
		},
		slices: []*discovery.EndpointSlice{
			makeSlice("ns", "older", "older-1", []discovery.Endpoint{ep("198.18.10.1")}),
			makeSlice("ns", "newer", "newer-1", []discovery.Endpoint{ep("198.18.10.2")}),
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.6.6:80", "198.18.10.1:8080")
			expectRoute(t, st, "tcp 198.18.0.41:80", "198.18.10.2:8080")
			expectProblems(t, p, "Service ns/newer: virtual server tcp 198.18.6.6:80 is already claimed by service ns/older")
			n := 0
			for _, sp := range st.Netfilter.Ports {
				if sp.VSKey == vsKey(t, "tcp 198.18.6.6:80") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d netfilter ports for the contested virtual server, want the winner's only", n)
			}
		},
	}, {
		name: "a bad affinity timeout uses the default",
		services: []*v1.Service{makeService("ns", "bad", func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: new(int32(-5))}}
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			if vs := st.Services[vsKey(t, "tcp 198.18.0.10:80")]; vs.Timeout != DefaultAffinityTimeout {
				t.Errorf("timeout %d", vs.Timeout)
			}
			expectProblems(t, p, "timeoutSeconds -5 out of range")
		},
	}, {
		name:     "a nil service is ignored",
		services: []*v1.Service{nil, good},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.0.20:80")
		},
	}})
}
