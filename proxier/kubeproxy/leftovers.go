package kubeproxy

import "strings"

// What kube-proxy's IPVS mode creates and its cleanup removes, from
// kubernetes v1.37 pkg/proxy/ipvs/proxier.go (iptablesCleanupChains,
// iptablesJumpChain, ipsetInfo) and ipset.go (the set names). These are
// the only objects this package removes.

// kubeChain is one of kube-proxy's chains.
type kubeChain struct{ table, chain string }

// kubeChains are the chains kube-proxy's IPVS cleanup flushes and deletes,
// in its order. KUBE-FIREWALL (kubelet's), KUBE-KUBELET-CANARY,
// KUBE-IPTABLES-HINT and the iptables mode's chains are not among them.
var kubeChains = []kubeChain{
	{"nat", "KUBE-SERVICES"},
	{"nat", "KUBE-POSTROUTING"},
	{"nat", "KUBE-NODE-PORT"},
	{"nat", "KUBE-LOAD-BALANCER"},
	{"nat", "KUBE-MARK-MASQ"},
	{"filter", "KUBE-FORWARD"},
	{"filter", "KUBE-NODE-PORT"},
	{"filter", "KUBE-PROXY-FIREWALL"},
	{"filter", "KUBE-SOURCE-RANGES-FIREWALL"},
	{"filter", "KUBE-IPVS-FILTER"},
	{"filter", "KUBE-IPVS-OUT-FILTER"},
}

// kubeJump is a jump kube-proxy adds to a built-in chain:
// `-A from -m comment --comment comment -j to`.
type kubeJump struct{ table, from, to, comment string }

// kubeJumps are kube-proxy's jumps from the built-in chains, which Fake's
// SeedKubeProxy lays out. The cleanup itself removes every jump from a
// built-in chain to one of kube-proxy's chains, whatever its matches (and
// for iptables-legacy prints the rule as the kernel holds it).
var kubeJumps = []kubeJump{
	{"nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"},
	{"nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"},
	{"nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"},
	{"filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"},
	{"filter", "INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"},
	{"filter", "INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"},
	{"filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"},
	{"filter", "INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"},
	{"filter", "OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter"},
}

// kubeSets are kube-proxy's IPv4 ipsets (ipsetInfo).
var kubeSets = []string{
	"KUBE-LOOP-BACK",
	"KUBE-CLUSTER-IP",
	"KUBE-EXTERNAL-IP",
	"KUBE-EXTERNAL-IP-LOCAL",
	"KUBE-LOAD-BALANCER",
	"KUBE-LOAD-BALANCER-FW",
	"KUBE-LOAD-BALANCER-LOCAL",
	"KUBE-LOAD-BALANCER-SOURCE-IP",
	"KUBE-LOAD-BALANCER-SOURCE-CIDR",
	"KUBE-NODE-PORT-TCP",
	"KUBE-NODE-PORT-LOCAL-TCP",
	"KUBE-NODE-PORT-UDP",
	"KUBE-NODE-PORT-LOCAL-UDP",
	"KUBE-NODE-PORT-SCTP-HASH",
	"KUBE-NODE-PORT-LOCAL-SCTP-HASH",
	"KUBE-HEALTH-CHECK-NODE-PORT",
	"KUBE-IPVS-IPS",
}

// ipsetNameMax is the longest ipset name (IPSET_MAXNAMELEN 32, with the NUL).
const ipsetNameMax = 31

// ipv6SetName is the name kube-proxy gives the IPv6 twin of a set: the
// "KUBE-" prefix becomes "KUBE-6-", cut to 31 characters (NewIPSet).
func ipv6SetName(name string) string {
	n := strings.Replace(name, "KUBE-", "KUBE-6-", 1)
	if len(n) > ipsetNameMax {
		n = n[:ipsetNameMax]
	}
	return n
}

// SetNames returns the names of kube-proxy's ipsets, IPv4 then IPv6, in
// the order they are destroyed.
func SetNames() []string {
	names := make([]string, 0, 2*len(kubeSets))
	names = append(names, kubeSets...)
	for _, s := range kubeSets {
		names = append(names, ipv6SetName(s))
	}
	return names
}

// isKubeChain reports whether chain is one of kube-proxy's in table.
func isKubeChain(table, chain string) bool {
	for _, c := range kubeChains {
		if c.table == table && c.chain == chain {
			return true
		}
	}
	return false
}

// builtinChains are iptables' built-in chains, by netfilter hook number.
var builtinChains = [...]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// tables are the iptables tables kube-proxy's IPVS mode writes.
var tables = []string{"nat", "filter"}
