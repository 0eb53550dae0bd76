package guest

import (
	"fmt"
	"net/netip"
	"os"
)

// The address plan. Pods are netns indices 1-127 and clients 200-207.
const (
	// ClusterCIDRs is the daemon's --cluster-cidr: the pods' ranges.
	ClusterCIDRs = "198.19.0.0/17,fd00:10::/48"
	// NodeName is the Node object the daemon runs as.
	NodeName = "e2e-node"
	// OtherNode is a node name for endpoints that are not local.
	OtherNode = "e2e-other"

	firstClient = 200
	lastClient  = 207
)

// NodeIPs returns the node's addresses: eth0's, from the VM's environment.
func NodeIPs() (v4, v6 netip.Addr) {
	v4 = parseEnvAddr("IPVS_VM_NODE_IP", "198.19.255.15")
	v6 = parseEnvAddr("IPVS_VM_NODE_IP6", "fd00:198:19:255::15")
	return v4, v6
}

func parseEnvAddr(name, def string) netip.Addr {
	if a, err := netip.ParseAddr(os.Getenv(name)); err == nil {
		return a
	}
	return netip.MustParseAddr(def)
}

// netnsAddrs returns the addresses of netns index idx and of its node-side
// gateway: 198.19.IDX.2/24 and fd00:10:0:IDX::2/64 for pods, the same under
// fd00:20:: for clients.
func netnsAddrs(idx int) (v4, gw4, v6, gw6 netip.Prefix, err error) {
	if idx < 1 || idx > lastClient || (idx > 127 && idx < firstClient) {
		return v4, gw4, v6, gw6, fmt.Errorf("netns index %d outside 1-127 (pods) and %d-%d (clients)", idx, firstClient, lastClient)
	}
	v6net := "fd00:10"
	if idx >= firstClient {
		v6net = "fd00:20"
	}
	v4 = netip.MustParsePrefix(fmt.Sprintf("198.19.%d.2/24", idx))
	gw4 = netip.MustParsePrefix(fmt.Sprintf("198.19.%d.1/24", idx))
	v6 = netip.MustParsePrefix(fmt.Sprintf("%s:0:%x::2/64", v6net, idx))
	gw6 = netip.MustParsePrefix(fmt.Sprintf("%s:0:%x::1/64", v6net, idx))
	return v4, gw4, v6, gw6, nil
}
