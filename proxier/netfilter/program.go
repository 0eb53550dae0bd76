package netfilter

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// DefaultTableName names our tables (one per address family) unless
// Config.TableName says otherwise.
const DefaultTableName = "ipvs-proxy"

// Program is the complete content of our tables, as plain values: what
// Apply writes in one transaction and what Verify reads back. Translate
// builds it from the intent without touching the kernel.
type Program struct {
	Tables []Table
}

// Table is one nftables table of one address family.
type Table struct {
	Family nftables.TableFamily
	Name   string
	Sets   []Set
	Chains []Chain
}

// Field is one component of a set key.
type Field uint8

// Key fields.
const (
	FieldIPv4  Field = iota + 1 // ipv4_addr
	FieldIPv6                   // ipv6_addr
	FieldProto                  // inet_proto
	FieldPort                   // inet_service
)

// Set is a named set. Its key is the concatenation of Fields, each padded to
// four bytes as nftables registers are.
type Set struct {
	Name   string
	Fields []Field
	// Interval sets hold ranges: each element's last field runs from Key to
	// KeyEnd, inclusive.
	Interval bool
	Elements []Element
}

// Element is one set element. KeyEnd is set only in interval sets.
type Element struct {
	Key    []byte
	KeyEnd []byte
}

// Chain is a chain; Hook is nil for a regular chain reached by jump.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Hook makes a chain a base chain.
type Hook struct {
	Type     nftables.ChainType
	Hook     nftables.ChainHook
	Priority int32
	// Policy is always accept in our chains: a drop policy would drop
	// every packet of the hook, services or not.
	Policy nftables.ChainPolicy
}

// Rule is one rule: its expressions and a comment shown by `nft list`.
type Rule struct {
	Comment string
	Exprs   []expr.Any
}

// Set names. Every table holds all of them, so the rules never change shape.
const (
	setServiceIPs       = "service-ips"        // cluster, external and load-balancer addresses
	setServicePorts     = "service-ports"      // their addr . proto . port
	setMasqPorts        = "masq-ports"         // addr . proto . port always masqueraded
	setClusterPorts     = "cluster-ports"      // addr . proto . port masqueraded from non-local sources
	setLocalCIDRs       = "local-cidrs"        // cluster-local (pod) sources
	setHairpin          = "hairpin"            // endpoint . proto . port . endpoint
	setFirewallPorts    = "firewall-ports"     // load-balancer addr . proto . port with source ranges
	setFirewallAllow    = "firewall-allow"     // addr . proto . port . allowed source range
	setNoLocalEndpoints = "no-local-endpoints" // addr . proto . port of Local ports served by other nodes
	setNodePorts        = "node-ports"         // proto . port
	setRejectProtos     = "reject-protos"      // the protocols whose unused ports are rejected
)

// Chain names and priorities. IPVS hooks LOCAL_IN at priority 98/99 and
// LOCAL_OUT at -99/-98 (NF_IP_PRI_NAT_SRC-2, NF_IP_PRI_NAT_DST+2...): chains
// that must see the service address run before those, the masquerade chain
// after IPVS rewrote the destination.
const (
	chainFirewall     = "firewall"
	chainFirewallPre  = "firewall-prerouting"
	chainFirewallOut  = "firewall-output"
	chainFilterInput  = "filter-input"
	chainNATPost      = "nat-postrouting"
	chainNATPre       = "nat-prerouting" // only with detection by interface
	chainNATOut       = "nat-output"     // only with detection by interface
	priorityFirewall  = -110             // dstnat - 10, as kube-proxy's nftables mode
	priorityFilterIn  = -10              // filter - 10: before the usual filter tables
	priorityNATSource = 100              // srcnat
	// priorityNATMark orders our mark chains first among nat chains: nf_nat
	// runs all of a hook's nat chains from its own hook at dstnat (-100),
	// before IPVS's LOCAL_OUT (-99).
	priorityNATMark = -110
)

// family holds what differs between the ip and ip6 tables.
type family struct {
	table   nftables.TableFamily
	addr    Field
	addrLen int
	name    string // "ip" or "ip6" as nft writes it
	// saddr and daddr are the offsets of the addresses in the network header.
	saddr, daddr uint32
	// rejectType and rejectCode make ICMP(v6) port unreachable.
	rejectType uint32
	rejectCode uint8
	// ctSrc and ctDst load the connection's addresses.
	ctSrc, ctDst expr.CtKey
	is           func(netip.Addr) bool
}

var families = []family{
	{
		table: nftables.TableFamilyIPv4, addr: FieldIPv4, addrLen: 4, name: "ip",
		saddr: 12, daddr: 16, rejectType: rejectICMPUnreach, rejectCode: icmpPortUnreach,
		ctSrc: ctKeySrcIP, ctDst: ctKeyDstIP,
		is: func(a netip.Addr) bool { return a.Is4() },
	},
	{
		table: nftables.TableFamilyIPv6, addr: FieldIPv6, addrLen: 16, name: "ip6",
		saddr: 8, daddr: 24, rejectType: rejectICMPUnreach, rejectCode: icmp6PortUnreach,
		ctSrc: ctKeySrcIP6, ctDst: ctKeyDstIP6,
		is: func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() },
	},
}

// Reject constants (linux/netfilter/nf_tables.h, linux/icmp.h, linux/icmpv6.h).
// ICMPX (family-independent) codes are only honoured in inet tables, so each
// family table rejects with its own ICMP.
const (
	rejectICMPUnreach = 0 // NFT_REJECT_ICMP_UNREACH
	icmpPortUnreach   = 3 // ICMP_PORT_UNREACH
	icmp6PortUnreach  = 4 // ICMPV6_PORT_UNREACH
)

// Translate turns the netfilter intent into the content of our tables: one
// table per address family the intent mentions (none for an empty intent,
// so applying it removes our tables). The rules are the same fixed list for
// any intent; only set elements grow with the number of services. The
// intent must be sorted (model.Netfilter.Sort).
func Translate(n *model.Netfilter, tableName string) *Program {
	return translate(n, tableName, familiesOf(n))
}

// translate makes the tables of the given families only (in families'
// order), whether the intent mentions them or not.
func translate(n *model.Netfilter, tableName string, fams []family) *Program {
	p := &Program{}
	d := detectionOf(n)
	for _, f := range fams {
		p.Tables = append(p.Tables, Table{
			Family: f.table,
			Name:   tableName,
			Sets:   buildSets(n, f, d),
			Chains: buildChains(f, d),
		})
	}
	return p
}

// familiesOf returns the families the intent mentions, in families' order.
func familiesOf(n *model.Netfilter) []family {
	var out []family
	for _, f := range families {
		if mentions(n, f) {
			out = append(out, f)
		}
	}
	return out
}

// mentions reports whether the intent has any address of the family.
func mentions(n *model.Netfilter, f family) bool {
	for _, p := range n.Ports {
		if f.is(p.Addr) {
			return true
		}
	}
	for _, c := range n.LocalCIDRs {
		if f.is(c.Addr()) {
			return true
		}
	}
	for _, e := range n.Hairpin {
		if f.is(e.Addr) {
			return true
		}
	}
	return false
}

// RuleCount returns the number of rules in the program.
func (p *Program) RuleCount() int {
	n := 0
	for _, t := range p.Tables {
		for _, c := range t.Chains {
			n += len(c.Rules)
		}
	}
	return n
}

// ElementCount returns the number of elements of each set, keyed by
// "family/set" (for example "ip/service-ips").
func (p *Program) ElementCount() map[string]int {
	out := map[string]int{}
	for _, t := range p.Tables {
		for _, s := range t.Sets {
			out[familyName(t.Family)+"/"+s.Name] = len(s.Elements)
		}
	}
	return out
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	}
	return fmt.Sprintf("family-%d", f)
}
