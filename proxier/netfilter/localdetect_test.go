package netfilter

import (
	"net/netip"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestDetectLocal asks, over the program Build's intent translates to,
// whether a connection from a source to a cluster IP counts as
// cluster-local (not masqueraded after IPVS NAT), for kube-proxy's
// detect-local modes as its getLocalDetectors implements them
// (cmd/kube-proxy/app/server_linux.go): ClusterCIDR by the first
// --cluster-cidr of each family, NodeCIDR by the first of the Node's
// spec.podCIDRs of each family (another node's pods are not local), and a
// family without a CIDR classifies nothing (kube-proxy's no-op detector:
// nobody is masqueraded but by masquerade-all and hairpin).
func TestDetectLocal(t *testing.T) {
	clusterCIDR := proxier.Config{LocalCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/48")}}
	nodeCIDR := proxier.Config{LocalFromNodePodCIDRs: true, LocalCIDRs: clusterCIDR.LocalCIDRs} // LocalCIDRs unused
	podCIDRs := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:10:244:1::/64"),
		netip.MustParsePrefix("10.245.0.0/24")} // a second IPv4 CIDR: kube-proxy takes the first
	tests := []struct {
		name     string
		cfg      proxier.Config
		podCIDRs []netip.Prefix
		local    map[string]bool // source -> counts as local
	}{
		{name: "ClusterCIDR", cfg: clusterCIDR, podCIDRs: podCIDRs, local: map[string]bool{
			"10.244.1.5": true, "10.244.2.5": true, "198.18.2.2": false, "fd00:10:244:1::5": true, "fd00:10:244:2::5": true, "fd00:99::5": false}},
		{name: "NodeCIDR", cfg: nodeCIDR, podCIDRs: podCIDRs, local: map[string]bool{
			"10.244.1.5": true, "10.244.2.5": false, "10.245.0.5": false, "198.18.2.2": false,
			"fd00:10:244:1::5": true, "fd00:10:244:2::5": false}},
		{name: "NodeCIDR, node with an IPv4 pod CIDR only", cfg: nodeCIDR, podCIDRs: podCIDRs[:1], local: map[string]bool{
			"10.244.1.5": true, "10.244.2.5": false, "fd00:10:244:2::5": true, "fd00:99::5": true}},
		{name: "NodeCIDR, node without pod CIDRs", cfg: nodeCIDR, local: map[string]bool{
			"10.244.1.5": true, "10.244.2.5": true, "198.18.2.2": true}},
	}
	svc := k8stest.Service("ns", "dns", k8stest.ClusterIPs("10.96.0.10", "fd00:96::10"))
	slice4 := k8stest.Slice("ns", "dns", "dns-4", []discovery.Endpoint{k8stest.Endpoint("10.244.3.7")})
	slice6 := k8stest.Slice("ns", "dns", "dns-6", []discovery.Endpoint{k8stest.Endpoint("fd00:10:244:3::7")},
		func(s *discovery.EndpointSlice) { s.AddressType = discovery.AddressTypeIPv6 })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("fd00::2")},
				PodCIDRs: tc.podCIDRs}
			state, problems := proxier.Build([]*v1.Service{svc}, []*discovery.EndpointSlice{slice4, slice6}, node, tc.cfg)
			if len(problems) > 0 {
				t.Fatalf("Build problems: %v", problems)
			}
			program := Translate(&state.Netfilter, DefaultTableName)
			for src, want := range tc.local {
				vip, endpoint := "10.96.0.10:80", "10.244.3.7:8080"
				if netip.MustParseAddr(src).Is6() {
					vip, endpoint = "[fd00:96::10]:80", "[fd00:10:244:3::7]:8080"
				}
				got := evaluate(program, pkt(postrouting, src, vip, natTo(endpoint))) != outMasquerade
				if got != want {
					t.Errorf("a connection from %s to %s counts as local = %v, want %v (local CIDRs %v)", src, vip, got, want, state.Netfilter.LocalCIDRs)
				}
			}
		})
	}
}

// TestDetectLocalByInterface follows connections to a cluster IP through
// the program Build's intent translates to, for kube-proxy's
// BridgeInterface and InterfaceNamePrefix modes: local is what comes in
// through the bridge (or an interface with the prefix), in both families,
// whatever its source; the node's own connections and those from other
// interfaces are masqueraded. Local CIDRs given as well are not used, as
// kube-proxy's getLocalDetectors uses one detector.
func TestDetectLocalByInterface(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}
	tests := []struct {
		name  string
		cfg   proxier.Config
		local map[string]bool // input interface ("" for the node) -> counts as local
	}{
		{name: "BridgeInterface", cfg: proxier.Config{LocalInterface: model.LocalInterface{Name: "cni0"}, LocalCIDRs: cidrs},
			local: map[string]bool{"cni0": true, "cni00": false, "eth0": false, "": false}},
		{name: "InterfaceNamePrefix", cfg: proxier.Config{LocalInterface: model.LocalInterface{Name: "veth", Prefix: true}, LocalCIDRs: cidrs},
			local: map[string]bool{"veth": true, "veth1a2b": true, "vet": false, "eth0": false, "": false}},
	}
	svc := k8stest.Service("ns", "dns", k8stest.ClusterIPs("10.96.0.10", "fd00:96::10"))
	slice4 := k8stest.Slice("ns", "dns", "dns-4", []discovery.Endpoint{k8stest.Endpoint("10.244.3.7")})
	slice6 := k8stest.Slice("ns", "dns", "dns-6", []discovery.Endpoint{k8stest.Endpoint("fd00:10:244:3::7")},
		func(s *discovery.EndpointSlice) { s.AddressType = discovery.AddressTypeIPv6 })
	node := proxier.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("fd00::2")}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state, problems := proxier.Build([]*v1.Service{svc}, []*discovery.EndpointSlice{slice4, slice6}, node, tc.cfg)
			if len(problems) > 0 {
				t.Fatalf("Build problems: %v", problems)
			}
			if n := state.Netfilter; len(n.LocalCIDRs) != 0 || n.MasqueradeMark != 1<<14 {
				t.Fatalf("intent has local CIDRs %v and mark %#x, want none and kube-proxy's default 0x4000", n.LocalCIDRs, n.MasqueradeMark)
			}
			program := Translate(&state.Netfilter, DefaultTableName)
			for iif, want := range tc.local {
				for _, c := range [][3]string{{"10.244.1.5", "10.96.0.10:80", "10.244.3.7:8080"}, {"fd00:10:244:1::5", "[fd00:96::10]:80", "[fd00:10:244:3::7]:8080"}} {
					p := pkt(prerouting, c[0], c[1], func(p *packet) { p.iif = iif })
					got, _ := connect(program, p, c[2])
					if (got != outMasquerade) != want {
						t.Errorf("a connection from %s through %q to %s: %s, want local = %v", c[0], iif, c[1], got, want)
					}
				}
			}
		})
	}
}
