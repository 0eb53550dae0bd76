package sysctl

// Setting is one kernel parameter and the value this project requires.
type Setting struct {
	// Name is the dotted parameter name.
	Name string
	// Value is the required value, as written to the file.
	Value string
	// Optional settings are skipped when the parameter does not exist;
	// a missing required one is an error naming it.
	Optional bool
	// Reason says why the value is needed (for logs and --help text).
	Reason string
}

// Options are the facts about the node that decide which settings apply.
type Options struct {
	// Kernel is the running kernel's version; the zero value means unknown,
	// in which case version-dependent settings are left alone.
	Kernel KernelVersion
	// IPv6 is set when the node proxies IPv6 services (IPv6 or dual-stack).
	IPv6 bool
	// StrictARP enables arp_ignore/arp_announce (--ipvs-strict-arp).
	StrictARP bool
	// Bridge is set when the br_netfilter parameters exist (see
	// BridgePresent).
	Bridge bool
}

// row is one line of the policy table: a setting and when it applies.
type row struct {
	Setting
	when func(Options) bool
}

func always(Options) bool      { return true }
func ipv6(o Options) bool      { return o.IPv6 }
func strictARP(o Options) bool { return o.StrictARP }
func bridge(o Options) bool    { return o.Bridge }
func bridgeIPv6(o Options) bool {
	return o.Bridge && o.IPv6
}

// kernelBelow applies a row only on a known kernel older than v.
func kernelBelow(v KernelVersion) func(Options) bool {
	return func(o Options) bool { return !o.Kernel.IsZero() && o.Kernel.Less(v) }
}

// connReuseFixed is the kernel in which IPVS stopped delaying new
// connections that reuse a port of a connection in TIME_WAIT when
// conn_reuse_mode=1 (kernel commit "ipvs: allow connection reuse for
// unconfirmed conntrack", v5.9). kube-proxy sets conn_reuse_mode=0 only on
// older kernels and leaves newer ones alone; so do we.
var connReuseFixed = KernelVersion{Major: 5, Minor: 9}

// table is the sysctl policy, in the order Ensure applies it.
var table = []row{
	{Setting{Name: "net.ipv4.vs.conntrack", Value: "1",
		Reason: "keep conntrack entries for IPVS connections so netfilter can masquerade and filter them"}, always},
	{Setting{Name: "net.ipv4.vs.expire_nodest_conn", Value: "1",
		Reason: "expire connections to deleted real servers at their next packet so clients get a reset, not a blackhole"}, always},
	{Setting{Name: "net.ipv4.vs.expire_quiescent_template", Value: "1",
		Reason: "expire persistence templates of weight-0 real servers so affinity does not pin clients to draining endpoints"}, always},
	{Setting{Name: "net.ipv4.vs.conn_reuse_mode", Value: "0",
		Reason: "avoid the 1s stall on reused ports that kernels before 5.9 impose with conn_reuse_mode=1"}, kernelBelow(connReuseFixed)},
	{Setting{Name: "net.ipv4.ip_forward", Value: "1",
		Reason: "forward IPv4 traffic to real servers on other hosts"}, always},
	{Setting{Name: "net.ipv6.conf.all.forwarding", Value: "1",
		Reason: "forward IPv6 traffic to real servers on other hosts"}, ipv6},
	{Setting{Name: "net.bridge.bridge-nf-call-iptables", Value: "1", Optional: true,
		Reason: "let netfilter see bridged IPv4 traffic, needed for hairpin and masquerade on bridge CNIs"}, bridge},
	{Setting{Name: "net.bridge.bridge-nf-call-ip6tables", Value: "1", Optional: true,
		Reason: "let netfilter see bridged IPv6 traffic, needed for hairpin and masquerade on bridge CNIs"}, bridgeIPv6},
	{Setting{Name: "net.ipv4.conf.all.arp_ignore", Value: "1",
		Reason: "answer ARP only for addresses on the receiving interface, not for service IPs on the dummy interface (strict ARP)"}, strictARP},
	{Setting{Name: "net.ipv4.conf.all.arp_announce", Value: "2",
		Reason: "never use a service IP as the source of ARP requests (strict ARP)"}, strictARP},
}

// Required returns the settings that apply to a node with the given
// options, in table order. It is pure.
func Required(opts Options) []Setting {
	var out []Setting
	for _, r := range table {
		if r.when(opts) {
			out = append(out, r.Setting)
		}
	}
	return out
}

// bridgeProbe is the parameter whose existence shows that br_netfilter is
// loaded.
const bridgeProbe = "net.bridge.bridge-nf-call-iptables"

// BridgePresent reports whether the br_netfilter parameters exist. Any
// error other than "does not exist" is returned.
func BridgePresent(iface Interface) (bool, error) {
	_, err := iface.Get(bridgeProbe)
	if err == nil {
		return true, nil
	}
	if isNotExist(err) {
		return false, nil
	}
	return false, err
}
