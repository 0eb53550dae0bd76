package options

import (
	"net/netip"
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

func TestConfigNode(t *testing.T) {
	dualStack := makeNode("node-a", []string{"InternalIP=198.18.128.11", "ExternalIP=198.18.250.11",
		"InternalIP=fd00:10:0:128::11", "InternalIP=198.18.129.11", "Hostname=node-a"})
	labels := dualStack.Labels
	tests := []struct {
		name         string
		args         []string
		node         *v1.Node
		want         proxier.Node
		wantWarnings []string
		wantErr      string
	}{
		{
			name: "InternalIP addresses of the Node, in status order",
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11", "fd00:10:0:128::11", "198.18.129.11")},
		},
		{
			name: "--node-ip replaces the Node's addresses",
			args: []string{"--node-ip=198.18.128.99", "--node-ip=fd00:10:0:128::99"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.99", "fd00:10:0:128::99")},
		},
		{
			name: "--node-ip without a Node object",
			args: []string{"--node-ip=198.18.128.99"},
			want: proxier.Node{Name: "node-a", IPs: addrs("198.18.128.99")},
		},
		{
			name: "--bind-address replaces the addresses of its family",
			args: []string{"--bind-address=198.18.128.50"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.50", "fd00:10:0:128::11")},
		},
		{
			name: "unspecified --bind-address is no override",
			args: []string{"--bind-address=::"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11", "fd00:10:0:128::11", "198.18.129.11")},
		},
		{
			name: "--nodeport-addresses CIDR filters NodePort addresses",
			args: []string{"--nodeport-addresses=198.18.129.0/24,fd00:10::/32"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11", "fd00:10:0:128::11", "198.18.129.11"),
				NodePortIPs: addrs("fd00:10:0:128::11", "198.18.129.11")},
		},
		{
			name: "--nodeport-addresses primary takes the first address per family",
			args: []string{"--nodeport-addresses=primary"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11", "fd00:10:0:128::11", "198.18.129.11"),
				NodePortIPs: addrs("198.18.128.11", "fd00:10:0:128::11")},
		},
		{
			name: "--nodeport-addresses matching nothing means no NodePorts",
			args: []string{"--nodeport-addresses=198.18.200.0/24"},
			node: dualStack,
			want: proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11", "fd00:10:0:128::11", "198.18.129.11"),
				NodePortIPs: addrs()},
		},
		{
			name:         "invalid InternalIP is skipped with a warning",
			node:         makeNode("node-a", []string{"InternalIP=198.18.128.311", "InternalIP=198.18.128.11"}),
			want:         proxier.Node{Name: "node-a", Labels: labels, IPs: addrs("198.18.128.11")},
			wantWarnings: []string{`Node node-a: invalid InternalIP "198.18.128.311"; skipped`},
		},
		{
			name:    "Node without InternalIP",
			node:    makeNode("node-a", []string{"ExternalIP=198.18.250.11"}),
			wantErr: `node "node-a" has no InternalIP address: give --node-ip`,
		},
		{
			name:    "no Node and no --node-ip",
			wantErr: `node "node-a": no addresses: give --node-ip`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := complete(t, tc.args...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
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
			if diff := cmp.Diff(tc.want, got, equateIPs); diff != "" {
				t.Errorf("Node (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
