package proxier

import (
	"fmt"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// DefaultScheduler is the IPVS scheduler used when neither the configuration
// nor a service annotation names one (kube-proxy's default).
const DefaultScheduler = "rr"

// DefaultAffinityTimeout is the persistence timeout for sessionAffinity
// ClientIP when the service does not set one (Kubernetes' default, 3 hours).
const DefaultAffinityTimeout = 10800

// Config is the node-independent configuration Build needs.
type Config struct {
	// Scheduler is the default IPVS scheduler (--ipvs-scheduler); "" means rr.
	Scheduler string
	// MasqueradeAll masquerades all traffic to services (--masquerade-all).
	MasqueradeAll bool
	// LocalCIDRs are the sources treated as cluster-local traffic
	// (--cluster-cidr with --detect-local-mode=ClusterCIDR).
	LocalCIDRs []netip.Prefix
	// LocalFromNodePodCIDRs treats the node's pod CIDRs (Node.PodCIDRs) as
	// the cluster-local sources in place of LocalCIDRs
	// (--detect-local-mode=NodeCIDR); see LocalSources.
	LocalFromNodePodCIDRs bool
	// LocalInterface, when its Name is set, tells cluster-local traffic by
	// the interface it enters the node through (--detect-local-mode
	// BridgeInterface or InterfaceNamePrefix) in place of any CIDR.
	LocalInterface model.LocalInterface
	// MasqueradeMark is the packet mark bit the netfilter rules use to
	// carry the masquerade decision with a LocalInterface (1 <<
	// --iptables-masquerade-bit); 0 means kube-proxy's default bit 14.
	MasqueradeMark uint32
	// ServiceProxyName, when set, makes Build handle exactly the services
	// whose service.kubernetes.io/service-proxy-name label has this value;
	// when empty, services carrying that label are ignored.
	ServiceProxyName string
	// DisableSchedulerAnnotations ignores the per-service scheduler
	// annotations (feature gate ServiceSchedulerAnnotations off).
	DisableSchedulerAnnotations bool
	// Schedulers are the IPVS schedulers the node's kernel offers, found by
	// the daemon at start (ipvs.DiscoverSchedulers). A scheduler annotation
	// naming another one is reported and the service gets the default
	// scheduler. nil means Schedulers, mainline Linux's (`ipvs-proxy plan`
	// cannot see the node's kernel).
	Schedulers []string
}

// scheduler returns the configured default scheduler.
func (c *Config) scheduler() string {
	if c.Scheduler == "" {
		return DefaultScheduler
	}
	return c.Scheduler
}

// masqueradeMark returns MasqueradeMark, or kube-proxy's default 1<<14.
func (c *Config) masqueradeMark() uint32 {
	if c.MasqueradeMark == 0 {
		return 1 << 14
	}
	return c.MasqueradeMark
}

// Node is what Build needs to know about the node it runs on.
type Node struct {
	// Name is the Node object's name, matched against endpoints' nodeName.
	Name string
	// Labels are the node's labels; topology.kubernetes.io/zone selects
	// zone hints.
	Labels map[string]string
	// IPs are the node's addresses: its node IP of each family, primary
	// first, as kube-proxy picks them.
	IPs []netip.Addr
	// Families are the IP families the node proxies; a service address of
	// another family gets nothing. kube-proxy proxies both families on a
	// host whose kernel has IPv6, whatever addresses the Node lists
	// (cmd/kube-proxy/app/server_linux.go, platformCheckSupported), so a
	// family may be proxied without any address in IPs. nil means the
	// families of IPs and NodePortIPs.
	Families []v1.IPFamily
	// NodePortIPs are the addresses NodePort virtual servers are created on
	// (after --nodeport-addresses filtering). nil means IPs.
	NodePortIPs []netip.Addr
	// HostIPs are every address configured on the host's interfaces other
	// than the proxy's dummy interface, node IPs included (the daemon reads
	// them from the kernel; `ipvs-proxy plan`, which cannot, uses the
	// addresses the Node lists). A service address that is one of them, or
	// one of IPs or NodePortIPs, belongs to the host: its service ports are
	// served, but it is never bound on the dummy interface and the netfilter
	// program neither rejects its other ports nor firewalls it (see
	// hostaddr.go).
	HostIPs []netip.Addr
	// PodCIDRs are the Node's spec.podCIDRs, the local sources with
	// Config.LocalFromNodePodCIDRs.
	PodCIDRs []netip.Prefix
}

// LocalSources returns the sources whose traffic counts as cluster-local
// (pods): cfg.LocalCIDRs, or with cfg.LocalFromNodePodCIDRs the node's pod
// CIDRs, the first of each family, as kube-proxy's NodeCIDR detector takes
// them (cmd/kube-proxy/app/server_linux.go, getLocalDetectors). A family
// without one has no local detection: only masquerade-all and hairpin
// apply to it, as with kube-proxy's no-op detector. With a LocalInterface
// there are none: the interface decides.
func LocalSources(cfg *Config, node *Node) []netip.Prefix {
	if cfg.LocalInterface.Name != "" {
		return nil
	}
	if !cfg.LocalFromNodePodCIDRs {
		return slices.Clone(cfg.LocalCIDRs)
	}
	var out []netip.Prefix
	var seen [2]bool
	for _, p := range node.PodCIDRs {
		f := 0
		if p.Addr().Is6() {
			f = 1
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, p.Masked())
		}
	}
	return out
}

// nodePortIPs returns the addresses NodePorts listen on.
func (n *Node) nodePortIPs() []netip.Addr {
	if n.NodePortIPs == nil {
		return n.IPs
	}
	return n.NodePortIPs
}

// hasFamily reports whether the node proxies the family of a: Families,
// else whether it has an address of that family.
func (n *Node) hasFamily(a netip.Addr) bool {
	if n.Families != nil {
		return slices.Contains(n.Families, ipFamily(a))
	}
	for _, ip := range n.IPs {
		if ip.Is4() == a.Is4() {
			return true
		}
	}
	for _, ip := range n.NodePortIPs {
		if ip.Is4() == a.Is4() {
			return true
		}
	}
	return false
}

// ipFamily returns the family of a.
func ipFamily(a netip.Addr) v1.IPFamily {
	if a.Is4() {
		return v1.IPv4Protocol
	}
	return v1.IPv6Protocol
}

// Problem is one defect found in an input object. Build skips the defective
// part and builds everything else.
type Problem struct {
	// Kind is "Service" or "EndpointSlice".
	Kind      string
	Namespace string
	Name      string
	// Message says what was wrong and what was skipped.
	Message string
	// Service is the service whose build found the problem (for a slice:
	// the service it belongs to); zero when none (Build's unowned slices).
	// A service's rebuild reports all of its problems, so a consumer can
	// forget what it reported for a service rebuilt without problems.
	Service types.NamespacedName
}

// String formats the problem as one line: "Service ns/name: message".
func (p Problem) String() string {
	return fmt.Sprintf("%s %s/%s: %s", p.Kind, p.Namespace, p.Name, p.Message)
}
