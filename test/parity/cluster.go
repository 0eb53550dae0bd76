package parity

import (
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// The address plan, inside test/vm's 198.18.0.0/15 and fd00::/8. The
// service ranges are test/apiserver's defaults; the node is the VM's eth0.
const (
	// NodeName is the Node both daemons run as (--hostname-override).
	NodeName = "parity-node"
	// ClusterCIDRs is --cluster-cidr: the pods' ranges.
	ClusterCIDRs = "198.19.0.0/17,fd00:10::/48"
	// HostInterface is the dummy interface the guest gives the extra host
	// addresses, before either daemon runs.
	HostInterface = "host0"
	// DummyInterface is where both daemons bind service addresses.
	DummyInterface = "kube-ipvs0"
)

// The node's own addresses (test/vm's eth0) and the extra host addresses a
// seed may add on HostInterface.
var (
	NodeIPv4  = netip.MustParseAddr("198.19.255.15")
	NodeIPv6  = netip.MustParseAddr("fd00:198:19:255::15")
	ExtraIPv4 = netip.MustParsePrefix("198.19.254.1/24")
	ExtraIPv6 = netip.MustParsePrefix("fd00:198:19:254::1/64")
)

// otherNodes are the nodes of endpoints that are not local; no Node object
// is needed for them.
var otherNodes = []string{"parity-other-1", "parity-other-2"}

// zones are the topology zones of the node and of endpoint hints.
var zones = []string{"zone-a", "zone-b", "zone-c"}

// Cluster is one seed's world: the node, the flags both daemons get and
// the objects of one namespace.
type Cluster struct {
	Seed      uint64
	Namespace string
	Node      NodeSpec
	// Flags are the seed's non-default flags, given to both daemons after
	// the common ones (CommonFlags).
	Flags    []string
	Services []*v1.Service
	// Statuses are the load-balancer statuses written after the services
	// are created, by service name.
	Statuses map[string]v1.ServiceStatus
	Slices   []*discovery.EndpointSlice
}

// NodeSpec is the node as the seed wants it.
type NodeSpec struct {
	// Zone is the node's topology.kubernetes.io/zone label; "" for none.
	Zone string
	// InternalIPs are the Node's InternalIP addresses (status order).
	InternalIPs []netip.Addr
	// ExtraAddrs are added to HostInterface in the guest: host addresses
	// that are not node IPs.
	ExtraAddrs []netip.Prefix
}

// CommonFlags are the flags both daemons get before the seed's: the node,
// the API server, metrics and health on loopback, fast syncs, and
// conntrack left alone (ipvs-proxy accepts and ignores that one).
func CommonFlags(kubeconfig string) []string {
	return []string{
		"--proxy-mode=ipvs",
		"--kubeconfig=" + kubeconfig,
		"--hostname-override=" + NodeName,
		"--cluster-cidr=" + ClusterCIDRs,
		"--healthz-bind-address=127.0.0.1:10256",
		"--metrics-bind-address=127.0.0.1:10249",
		"--ipvs-min-sync-period=100ms",
		"--conntrack-max-per-core=0",
		"--v=2",
	}
}

// Service returns the generated service named name, or nil.
func (c *Cluster) Service(name string) *v1.Service {
	for _, s := range c.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Summary is one line about the seed's choices, for the test log.
func (c *Cluster) Summary() string {
	return fmt.Sprintf("seed %d: %d services, %d slices, zone %q, InternalIPs %v, extra host addresses %v, flags %v",
		c.Seed, len(c.Services), len(c.Slices), c.Node.Zone, c.Node.InternalIPs, c.Node.ExtraAddrs, c.Flags)
}

// GuestPlan is what the host tells guestrun, in PlanFile of the seed's
// directory in the share.
type GuestPlan struct {
	// Flags are given to both daemons, in this order.
	Flags []string `json:"flags"`
	// ExtraAddrs go on HostInterface before either daemon starts.
	ExtraAddrs []netip.Prefix `json:"extraAddrs"`
	// Zone is the node's zone label ("" for none), which guestrun sets once
	// each daemon has synced (guestrun's placeholderZone says why).
	Zone string `json:"zone"`
}

// PlanFile is the GuestPlan's name in the seed's directory in the share.
const PlanFile = "plan.json"

// The daemons, in the order guestrun runs them; each leaves DAEMON.json
// (its Snapshot) and DAEMON.log in the seed's directory.
const (
	KubeProxy = "kube-proxy"
	IPVSProxy = "ipvs-proxy"
)
