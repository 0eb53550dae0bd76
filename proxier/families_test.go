package proxier

import (
	"net/netip"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestBuildFamilies: Node.Families decides which service families are
// programmed, not the node's addresses. kube-proxy runs dual-stack on any
// host whose kernel has IPv6 (cmd/kube-proxy/app/server_linux.go,
// platformCheckSupported; server.go, newProxyServer), with 127.0.0.1 or ::1
// standing in for a family's missing node IP (detectNodeIPs).
func TestBuildFamilies(t *testing.T) {
	dualStack := []*v1.Service{makeService("ns", "web", clusterIPs("198.18.0.10", "fd00::10"), nodePort(30080))}
	eps := []*discovery.EndpointSlice{twoBackends("web"), makeSlice("ns", "web", "web-6", []discovery.Endpoint{ep("fd00::a:1")})}
	runBuildCases(t, []buildCase{{
		name:     "a family proxied without a node address gets its service addresses, and node ports where the host has addresses",
		services: dualStack,
		slices:   eps,
		node: func(n *Node) {
			n.IPs = n.IPs[:1]
			n.Families = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
			n.NodePortIPs = []netip.Addr{mustAddr("198.18.1.1")}
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectRoute(t, st, "tcp [fd00::10]:80", "[fd00::a:1]:8080")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectNoVS(t, st, "tcp [fd00::1:1]:30080")
			expectAddresses(t, st, "198.18.0.10", "fd00::10")
			expectProblems(t, p)
		},
	}, {
		name:     "a family not proxied gets nothing, even where the node has an address",
		services: dualStack,
		slices:   eps,
		node:     func(n *Node) { n.Families = []v1.IPFamily{v1.IPv4Protocol} },
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectNoVS(t, st, "tcp [fd00::10]:80")
			expectNoVS(t, st, "tcp [fd00::1:1]:30080")
			expectRoute(t, st, "tcp 198.18.1.1:30080", "198.18.10.1:8080", "198.18.10.2:8080")
			expectAddresses(t, st, "198.18.0.10")
			expectProblems(t, p)
		},
	}, {
		name:     "an IPv6-primary node proxying only IPv6",
		services: dualStack,
		slices:   eps,
		node: func(n *Node) {
			n.IPs = n.IPs[1:]
			n.Families = []v1.IPFamily{v1.IPv6Protocol}
		},
		check: func(t *testing.T, st *model.State, p []Problem) {
			expectNoVS(t, st, "tcp 198.18.0.10:80")
			expectRoute(t, st, "tcp [fd00::10]:80", "[fd00::a:1]:8080")
			expectRoute(t, st, "tcp [fd00::1:1]:30080", "[fd00::a:1]:8080")
			expectAddresses(t, st, "fd00::10")
		},
	}})
}
