package proxier

import (
	"net/netip"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// externalIPs sets the service's external IPs.
func externalIPs(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ExternalIPs = ips }
}

// withHostIPs gives the test node host addresses besides its node IPs
// (198.18.1.1, fd00::1:1), as the daemon reads them from the interfaces.
func withHostIPs(ips ...string) func(*Node) {
	return func(n *Node) {
		n.HostIPs = slices.Clone(n.IPs)
		for _, s := range ips {
			n.HostIPs = append(n.HostIPs, netip.MustParseAddr(s))
		}
	}
}

// expectServiceIPs asserts which addresses the netfilter program treats as
// service addresses (their unused ports are rejected).
func expectServiceIPs(t testing.TB, st *model.State, addrs ...string) {
	t.Helper()
	var got []string
	for _, a := range st.Netfilter.ServiceIPs() {
		got = append(got, a.String())
	}
	if !slices.Equal(got, addrs) {
		t.Errorf("service IPs %v, want %v", got, addrs)
	}
}

// expectHostPort asserts that the netfilter port vs exists and is marked
// Host (the address is the host's: not rejected, not firewalled).
func expectHostPort(t testing.TB, st *model.State, vs string) {
	t.Helper()
	k := vsKey(t, vs)
	i := slices.IndexFunc(st.Netfilter.Ports, func(p model.ServicePort) bool { return p.VSKey == k })
	if i < 0 || !st.Netfilter.Ports[i].Host {
		t.Errorf("no Host port %s; have:\n%v", vs, st.Netfilter.Lines())
	}
}

// Service addresses that belong to the host are served but never bound,
// rejected or firewalled.
func TestBuildHostAddresses(t *testing.T) {
	const served = "its service ports are served but it is not bound on the dummy interface, and no other port on it is rejected"
	runBuildCases(t, []buildCase{{
		name:     "external IP that is the node IP",
		services: []*v1.Service{makeService("ns", "web", externalIPs("198.18.1.1", "198.18.6.6"))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		node:     withHostIPs(),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.6.6:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.6.6")
			expectServiceIPs(t, st, "198.18.0.10", "198.18.6.6")
			expectHostPort(t, st, "tcp 198.18.1.1:80")
			expectProblems(t, p, "Service ns/web: externalIPs: 198.18.1.1 is an address of this node; "+served)
		},
	}, {
		name: "load-balancer ingress IP on another interface of the host, with source ranges",
		services: []*v1.Service{makeService("ns", "web", loadBalancer(30080, "198.18.3.3"), func(s *v1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"198.18.100.0/24"}
		})},
		slices: []*discovery.EndpointSlice{twoBackends("web")},
		node:   withHostIPs("198.18.3.3", "127.0.0.1", "fe80::1"),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.3.3:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10")
			expectServiceIPs(t, st, "198.18.0.10")
			expectHostPort(t, st, "tcp 198.18.3.3:80")
			expectProblems(t, p, "status.loadBalancer.ingress: 198.18.3.3 is an address of this node; "+served+
				" or firewalled (loadBalancerSourceRanges are not enforced on it)")
		},
	}, {
		// plan knows only the node IPs; they are host addresses anyway.
		name:     "cluster IP that is the node IP, without HostIPs",
		services: []*v1.Service{makeService("ns", "web", clusterIPs("198.18.1.1", "fd00::30"))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp [fd00::30]:80")
			expectAddresses(t, st, "fd00::30")
			expectServiceIPs(t, st, "fd00::30")
			expectHostPort(t, st, "tcp 198.18.1.1:80")
			expectProblems(t, p, "clusterIPs: 198.18.1.1 is an address of this node")
		},
	}, {
		name:     "IPv4-mapped node IP is the node IP",
		services: []*v1.Service{makeService("ns", "web", externalIPs("::ffff:198.18.1.1"))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10")
			expectProblems(t, p, "externalIPs: 198.18.1.1 is an address of this node")
		},
	}, {
		// Two services on the node's address: each is told, both served.
		name: "two services on one host address",
		services: []*v1.Service{
			makeService("ns", "a", externalIPs("198.18.1.1")),
			makeService("ns", "b", clusterIPs("198.18.0.11"), externalIPs("198.18.1.1"), func(s *v1.Service) { s.Spec.Ports[0].Port = 81 }),
		},
		slices: []*discovery.EndpointSlice{twoBackends("a"), twoBackends("b")},
		node:   withHostIPs(),
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp 198.18.1.1:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.1.1:81", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.0.11")
			expectProblems(t, p, "Service ns/a: externalIPs: 198.18.1.1", "Service ns/b: externalIPs: 198.18.1.1")
		},
	}})
}

// Addresses that are nobody's service address are skipped, with a
// problem; the service's other addresses are still served.
func TestBuildSpecialServiceAddresses(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name:     "loopback cluster IP",
		services: []*v1.Service{makeService("ns", "web", clusterIPs("127.0.0.1", "fd00::30"))},
		slices:   []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectNoVS(t, st, "tcp 127.0.0.1:80")
			expectAddresses(t, st, "fd00::30")
			expectServiceIPs(t, st, "fd00::30")
			expectProblems(t, p, "Service ns/web: clusterIPs: 127.0.0.1 is a loopback address, which cannot be a service address; skipped")
		},
	}, {
		name: "special external and load-balancer IPs",
		services: []*v1.Service{makeService("ns", "web",
			externalIPs("224.0.0.1", "239.1.1.1", "255.255.255.255", "169.254.1.1", "::ffff:127.0.0.1", "::", "0.0.0.0", "ff02::1", "198.18.6.6"),
			loadBalancer(0, "fe80::1", "::1", "198.18.5.5"))},
		slices: []*discovery.EndpointSlice{twoBackends("web")},
		check: func(t *testing.T, st *model.State, p []Problem) {
			for _, vs := range []string{"tcp 224.0.0.1:80", "tcp 239.1.1.1:80", "tcp 255.255.255.255:80", "tcp 169.254.1.1:80",
				"tcp 127.0.0.1:80", "tcp 0.0.0.0:80", "tcp [::]:80", "tcp [ff02::1]:80", "tcp [fe80::1]:80", "tcp [::1]:80"} {
				expectNoVS(t, st, vs)
			}
			expectRoute(t, st, "tcp 198.18.6.6:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectRoute(t, st, "tcp 198.18.5.5:80", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10", "198.18.5.5", "198.18.6.6")
			expectProblems(t, p,
				"externalIPs: 224.0.0.1 is a link-local multicast address, which cannot be a service address; skipped",
				"externalIPs: 239.1.1.1 is a multicast address",
				"externalIPs: 255.255.255.255 is the IPv4 limited broadcast address",
				"externalIPs: 169.254.1.1 is a link-local address",
				`externalIPs: "::ffff:127.0.0.1" (127.0.0.1) is a loopback address`,
				"externalIPs: :: is unspecified",
				"externalIPs: 0.0.0.0 is unspecified",
				"externalIPs: ff02::1 is a link-local multicast address",
				"status.loadBalancer.ingress: fe80::1 is a link-local address",
				"status.loadBalancer.ingress: ::1 is a loopback address")
		},
	}})
}

// Endpoint addresses IPVS refuses are skipped, with a problem; the other
// endpoints are still real servers.
func TestBuildSpecialEndpointAddresses(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name:     "IPv4",
		services: []*v1.Service{makeService("ns", "web")},
		slices: []*discovery.EndpointSlice{makeSlice("ns", "web", "web-1", []discovery.Endpoint{
			ep("239.1.1.1"), ep("198.18.10.1"), ep("255.255.255.255"), ep("127.0.0.1"), ep("169.254.1.1"),
			ep("224.0.0.5"), ep("0.0.0.0"), ep("::ffff:127.0.0.2"), ep("198.18.10.2"), ep("198.18.1.1"),
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			// 198.18.1.1 is the node's: a host-network pod, served.
			expectRoute(t, st, "tcp 198.18.0.10:80", "198.18.1.1:8080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectProblems(t, p,
				"EndpointSlice ns/web-1: endpoint address 239.1.1.1 is a multicast address, which cannot be a real server; skipped",
				"endpoint address 255.255.255.255 is the IPv4 limited broadcast address",
				"endpoint address 127.0.0.1 is a loopback address",
				"endpoint address 169.254.1.1 is a link-local address",
				"endpoint address 224.0.0.5 is a link-local multicast address",
				"endpoint address 0.0.0.0 is unspecified",
				`endpoint address "::ffff:127.0.0.2" (127.0.0.2) is a loopback address`)
		},
	}, {
		name:     "IPv6",
		services: []*v1.Service{makeService("ns", "web", clusterIPs("fd00::30"))},
		slices: []*discovery.EndpointSlice{makeSlice("ns", "web", "web-1", []discovery.Endpoint{
			ep("fd00::10:1"), ep("ff02::1"), ep("fe80::1"), ep("::1"), ep("::"), ep("ff0e::1"),
		})},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp [fd00::30]:80", "[fd00::10:1]:8080")
			expectProblems(t, p, "ff02::1 is a link-local multicast address", "fe80::1 is a link-local address",
				"::1 is a loopback address", ":: is unspecified", "ff0e::1 is a multicast address")
		},
	}})
}
