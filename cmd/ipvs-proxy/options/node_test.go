package options

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// makeNode returns a Node with the given name and addresses ("InternalIP=ip",
// "ExternalIP=ip", ...), changed by the mutators.
func makeNode(name string, addrs []string, mutators ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"topology.kubernetes.io/zone": "zone-a", "kubernetes.io/hostname": name}}}
	for _, a := range addrs {
		typ, ip, _ := strings.Cut(a, "=")
		n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeAddressType(typ), Address: ip})
	}
	for _, m := range mutators {
		m(n)
	}
	return n
}

func addrs(ss ...string) []netip.Addr {
	out := []netip.Addr{}
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

var (
	dual   = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
	dual6  = []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}
	only4  = []v1.IPFamily{v1.IPv4Protocol}
	noIPs  = addrs()
	allIPs = func(ss ...string) []netip.Addr { return addrs(ss...) }
)

// nodeCase is one rule of Config.Node: a command line, a Node, whether the
// host's kernel has IPv6, and the node Build gets.
type nodeCase struct {
	name         string
	args         []string
	node         *v1.Node
	noIPv6       bool // the host's kernel has IPv6 disabled
	want         proxier.Node
	wantWarnings []string
	wantErr      string
}

func runNodeCases(t *testing.T, tests []nodeCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := complete(t, tc.args...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			cfg.HostIPv6 = func() bool { return !tc.noIPv6 }
			got, warnings, err := cfg.Node("node-a", tc.node)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Node error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Node: %v", err)
			}
			want := tc.want
			want.Name = "node-a"
			if tc.node != nil {
				want.Labels = tc.node.Labels
			}
			if diff := cmp.Diff(want, got, equateIPs); diff != "" {
				t.Errorf("Node (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigNodeIPs: the node IPs and IP families, as kube-proxy v1.37
// chooses them. GetNodeHostIPs (pkg/util/node/node.go): InternalIP then
// ExternalIP addresses, the first one and the first of the other family.
// detectNodeIPs (cmd/kube-proxy/app/server.go): a specific bindAddress
// replaces its family's IP and makes that family primary; no IP at all
// means 127.0.0.1 and ::1. platformCheckSupported and newProxyServer
// (server_linux.go, server.go): dual-stack whenever the kernel has IPv6,
// else the primary family alone, and an IPv6 primary without IPv6 support is
// fatal.
func TestConfigNodeIPs(t *testing.T) {
	dualStack := makeNode("node-a", []string{"InternalIP=198.18.128.11", "ExternalIP=198.18.250.11",
		"InternalIP=fd00:10:0:128::11", "InternalIP=198.18.129.11", "Hostname=node-a"})
	internal4 := makeNode("node-a", []string{"InternalIP=198.18.128.11", "Hostname=node-a"})
	runNodeCases(t, []nodeCase{{
		name: "InternalIP: the first, and the first of the other family",
		node: dualStack,
		want: proxier.Node{IPs: addrs("198.18.128.11", "fd00:10:0:128::11"), Families: dual,
			HostIPs:     addrs("198.18.128.11", "198.18.129.11", "fd00:10:0:128::11"),
			NodePortIPs: allIPs("198.18.128.11", "198.18.129.11", "fd00:10:0:128::11")},
	}, {
		name: "a Node with only ExternalIP addresses works",
		node: makeNode("node-a", []string{"ExternalIP=198.18.250.11", "Hostname=node-a"}),
		want: proxier.Node{IPs: addrs("198.18.250.11"), Families: dual,
			HostIPs: addrs("198.18.250.11"), NodePortIPs: addrs("198.18.250.11")},
	}, {
		name: "an IPv6 ExternalIP gives the IPv6 node IP",
		node: makeNode("node-a", []string{"InternalIP=198.18.128.11", "ExternalIP=198.18.250.11", "ExternalIP=fd00:250::11"}),
		want: proxier.Node{IPs: addrs("198.18.128.11", "fd00:250::11"), Families: dual,
			HostIPs: addrs("198.18.128.11", "fd00:250::11"), NodePortIPs: addrs("198.18.128.11", "fd00:250::11")},
	}, {
		name: "an IPv6-primary Node",
		node: makeNode("node-a", []string{"InternalIP=fd00:10:0:128::11", "InternalIP=198.18.128.11"}),
		want: proxier.Node{IPs: addrs("fd00:10:0:128::11", "198.18.128.11"), Families: dual6,
			HostIPs: addrs("198.18.128.11", "fd00:10:0:128::11"), NodePortIPs: addrs("198.18.128.11", "fd00:10:0:128::11")},
	}, {
		name: "a Node listing IPv4 only still proxies IPv6 on a host with IPv6",
		node: internal4,
		want: proxier.Node{IPs: addrs("198.18.128.11"), Families: dual,
			HostIPs: addrs("198.18.128.11"), NodePortIPs: addrs("198.18.128.11")},
	}, {
		name:   "a host without IPv6 proxies the primary family only",
		node:   dualStack,
		noIPv6: true,
		want: proxier.Node{IPs: addrs("198.18.128.11"), Families: only4,
			HostIPs: addrs("198.18.128.11", "198.18.129.11"), NodePortIPs: addrs("198.18.128.11", "198.18.129.11")},
	}, {
		name:    "an IPv6 primary on a host without IPv6 is refused",
		node:    makeNode("node-a", []string{"InternalIP=fd00:10:0:128::11"}),
		noIPv6:  true,
		wantErr: `node "node-a": the primary IP fd00:10:0:128::11 is IPv6 but the host's kernel has IPv6 disabled`,
	}, {
		name: "--node-ip replaces the Node's addresses: the first of each family",
		args: []string{"--node-ip=198.18.128.99,198.18.129.99", "--node-ip=fd00:10:0:128::99"},
		node: dualStack,
		want: proxier.Node{IPs: addrs("198.18.128.99", "fd00:10:0:128::99"), Families: dual,
			HostIPs:     addrs("198.18.128.99", "198.18.129.99", "fd00:10:0:128::99"),
			NodePortIPs: addrs("198.18.128.99", "198.18.129.99", "fd00:10:0:128::99")},
	}, {
		name: "--node-ip without a Node object",
		args: []string{"--node-ip=198.18.128.99"},
		want: proxier.Node{IPs: addrs("198.18.128.99"), Families: dual, HostIPs: addrs("198.18.128.99"), NodePortIPs: addrs("198.18.128.99")},
	}, {
		name: "--bind-address replaces the node IP of its family",
		args: []string{"--bind-address=198.18.128.50"},
		node: dualStack,
		want: proxier.Node{IPs: addrs("198.18.128.50", "fd00:10:0:128::11"), Families: dual,
			HostIPs:     addrs("198.18.128.11", "198.18.128.50", "198.18.129.11", "fd00:10:0:128::11"),
			NodePortIPs: addrs("198.18.128.11", "198.18.128.50", "198.18.129.11", "fd00:10:0:128::11")},
	}, {
		name: "--bind-address of the other family becomes primary",
		args: []string{"--bind-address=fd00:10:0:128::50"},
		node: internal4,
		want: proxier.Node{IPs: addrs("fd00:10:0:128::50", "198.18.128.11"), Families: dual6,
			HostIPs: addrs("198.18.128.11", "fd00:10:0:128::50"), NodePortIPs: addrs("198.18.128.11", "fd00:10:0:128::50")},
	}, {
		name:    "an IPv6 --bind-address on a host without IPv6 is refused",
		args:    []string{"--bind-address=fd00:10:0:128::50"},
		node:    internal4,
		noIPv6:  true,
		wantErr: `node "node-a": the primary IP fd00:10:0:128::50 is IPv6 but the host's kernel has IPv6 disabled`,
	}, {
		name: "--bind-address overrides --node-ip too",
		args: []string{"--node-ip=198.18.128.99", "--bind-address=198.18.128.50"},
		want: proxier.Node{IPs: addrs("198.18.128.50"), Families: dual,
			HostIPs: addrs("198.18.128.50", "198.18.128.99"), NodePortIPs: addrs("198.18.128.50", "198.18.128.99")},
	}, {
		name: "unspecified --bind-address is no override",
		args: []string{"--bind-address=::"},
		node: internal4,
		want: proxier.Node{IPs: addrs("198.18.128.11"), Families: dual, HostIPs: addrs("198.18.128.11"), NodePortIPs: addrs("198.18.128.11")},
	}, {
		name:         "invalid addresses are skipped with a warning",
		node:         makeNode("node-a", []string{"InternalIP=198.18.128.311", "ExternalIP=fd00::zz", "InternalIP=198.18.128.11"}),
		want:         proxier.Node{IPs: addrs("198.18.128.11"), Families: dual, HostIPs: addrs("198.18.128.11"), NodePortIPs: addrs("198.18.128.11")},
		wantWarnings: []string{`Node node-a: invalid InternalIP "198.18.128.311"; skipped`, `Node node-a: invalid ExternalIP "fd00::zz"; skipped`},
	}, {
		name: "a Node without addresses is proxied without node IPs, IPv4 primary",
		node: makeNode("node-a", []string{"Hostname=node-a"}),
		want: proxier.Node{IPs: noIPs, Families: dual, HostIPs: noIPs, NodePortIPs: noIPs},
		wantWarnings: []string{"node node-a has no InternalIP or ExternalIP address and neither --node-ip nor --bind-address is given: " +
			"proxied without a node IP, as kube-proxy does (it assumes 127.0.0.1 and ::1)"},
	}})
}

// TestConfigNodePortIPs: --nodeport-addresses per family and each keyword
// over the Node's addresses (the plan's stand-in for the interfaces; the
// daemon applies the same addr.NodePortIPs to the interfaces). kube-proxy:
// expandNodePortAddressKeywords (cmd/kube-proxy/app/server.go) and
// NewNodePortAddresses (pkg/proxy/util/nodeport_addresses.go), a family
// without a CIDR matching all of its addresses.
func TestConfigNodePortIPs(t *testing.T) {
	node := makeNode("node-a", []string{"InternalIP=198.18.128.11", "InternalIP=fd00:10:0:128::11",
		"InternalIP=198.18.129.11", "InternalIP=fd00:10:0:129::11"})
	ips := addrs("198.18.128.11", "fd00:10:0:128::11")
	host := addrs("198.18.128.11", "198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11")
	with := func(nodePort ...string) proxier.Node {
		return proxier.Node{IPs: ips, Families: dual, HostIPs: host, NodePortIPs: addrs(nodePort...)}
	}
	runNodeCases(t, []nodeCase{
		{name: "unset: all", node: node, want: with("198.18.128.11", "198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11")},
		{name: "all", args: []string{"--nodeport-addresses=all"}, node: node,
			want: with("198.18.128.11", "198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11")},
		{name: "an IPv4 CIDR only: every IPv6 address", args: []string{"--nodeport-addresses=198.18.129.0/24"}, node: node,
			want: with("198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11")},
		{name: "an IPv6 CIDR only: every IPv4 address", args: []string{"--nodeport-addresses=fd00:10:0:129::/64"}, node: node,
			want: with("198.18.128.11", "198.18.129.11", "fd00:10:0:129::11")},
		{name: "a CIDR per family", args: []string{"--nodeport-addresses=198.18.129.0/24,fd00:10::/32"}, node: node,
			want: with("198.18.129.11", "fd00:10:0:128::11", "fd00:10:0:129::11")},
		{name: "primary: the node IP of each family", args: []string{"--nodeport-addresses=primary"}, node: node,
			want: with("198.18.128.11", "fd00:10:0:128::11")},
		{name: "primary follows --bind-address", args: []string{"--nodeport-addresses=primary", "--bind-address=198.18.129.11"}, node: node,
			want: proxier.Node{IPs: addrs("198.18.129.11", "fd00:10:0:128::11"), Families: dual, HostIPs: host,
				NodePortIPs: addrs("198.18.129.11", "fd00:10:0:128::11")}},
		{name: "primary with a family without a node IP: that family unrestricted", args: []string{"--nodeport-addresses=primary"},
			node: makeNode("node-a", []string{"InternalIP=198.18.128.11"}), want: proxier.Node{IPs: addrs("198.18.128.11"),
				Families: dual, HostIPs: addrs("198.18.128.11"), NodePortIPs: addrs("198.18.128.11")}},
		{name: "localhost: nothing, IPVS never serves loopback", args: []string{"--nodeport-addresses=localhost"}, node: node, want: with()},
		{name: "localhost and an IPv4 CIDR", args: []string{"--nodeport-addresses=localhost,198.18.128.0/24"}, node: node,
			want: with("198.18.128.11")},
		{name: "matching nothing means no NodePorts", args: []string{"--nodeport-addresses=198.18.200.0/24,fd00:200::/64"}, node: node,
			want: with()},
	})
}

// TestKernelIPv6 reads a fake procfs as kube-proxy reads the real one.
func TestKernelIPv6(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ifInet6 bool
		disable string // net.ipv6.conf.all.disable_ipv6; "" for no file
		want    bool
	}{
		{name: "IPv6 enabled", ifInet6: true, disable: "0\n", want: true},
		{name: "disabled by sysctl", ifInet6: true, disable: "1\n", want: false},
		{name: "no IPv6 in the kernel", want: false},
		{name: "disable_ipv6 unreadable: enabled, as kube-proxy", ifInet6: true, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			if tc.ifInet6 {
				writeFile(t, filepath.Join(proc, "net", "if_inet6"), "")
			}
			if tc.disable != "" {
				writeFile(t, filepath.Join(proc, "sys", "net", "ipv6", "conf", "all", "disable_ipv6"), tc.disable)
			}
			if got := kernelIPv6(proc); got != tc.want {
				t.Errorf("kernelIPv6 = %v, want %v", got, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConfigNodePodCIDRs: the Node's spec.podCIDRs (spec.podCIDR when the
// list is empty) reach Build, which --detect-local-mode=NodeCIDR counts as
// the local sources; with that mode a proxied family without one is
// warned about, as kube-proxy's getLocalDetectors logs it.
func TestConfigNodePodCIDRs(t *testing.T) {
	withPodCIDRs := func(cidrs ...string) func(*v1.Node) {
		return func(n *v1.Node) { n.Spec.PodCIDRs = cidrs }
	}
	internal := []string{"InternalIP=198.18.0.2", "InternalIP=fd00::2"}
	tests := []struct {
		name         string
		args         []string
		node         *v1.Node
		want         []netip.Prefix
		wantWarnings []string
	}{
		{name: "dual-stack pod CIDRs", args: []string{"--detect-local-mode=NodeCIDR"},
			node: makeNode("node-a", internal, withPodCIDRs("10.244.1.0/24", "fd00:10:244:1::/64")),
			want: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:10:244:1::/64")}},
		{name: "the old single podCIDR field", args: []string{"--detect-local-mode=NodeCIDR"},
			node:         makeNode("node-a", internal, func(n *v1.Node) { n.Spec.PodCIDR = "10.244.1.7/24" }),
			want:         []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")},
			wantWarnings: []string{"detect-local-mode NodeCIDR: node node-a has no IPv6 pod CIDR (spec.podCIDRs []); IPv6 traffic is not classified as local"}},
		{name: "none: both families warned about", args: []string{"--detect-local-mode=NodeCIDR"},
			node: makeNode("node-a", internal),
			wantWarnings: []string{
				"detect-local-mode NodeCIDR: node node-a has no IPv4 pod CIDR (spec.podCIDRs []); IPv4 traffic is not classified as local",
				"detect-local-mode NodeCIDR: node node-a has no IPv6 pod CIDR (spec.podCIDRs []); IPv6 traffic is not classified as local",
			}},
		{name: "ClusterCIDR mode: no warning", args: []string{"--cluster-cidr=10.244.0.0/16"},
			node: makeNode("node-a", internal)},
		{name: "an invalid pod CIDR is skipped", args: []string{"--detect-local-mode=NodeCIDR"},
			node: makeNode("node-a", internal[:1], withPodCIDRs("10.244.1.0/33", "10.244.1.0/24")),
			want: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")},
			wantWarnings: []string{
				`node node-a: invalid pod CIDR "10.244.1.0/33" ignored`,
				"detect-local-mode NodeCIDR: node node-a has no IPv6 pod CIDR (spec.podCIDRs [10.244.1.0/33 10.244.1.0/24]); IPv6 traffic is not classified as local",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := complete(t, tc.args...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			cfg.HostIPv6 = func() bool { return true }
			got, warnings, err := cfg.Node("node-a", tc.node)
			if err != nil {
				t.Fatalf("Node: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.PodCIDRs, equateIPs); diff != "" {
				t.Errorf("PodCIDRs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
