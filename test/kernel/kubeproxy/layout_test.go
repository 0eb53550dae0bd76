//go:build vmtest

package kubeproxy_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// family is an address family as the iptables tools and ipset name it.
type family struct {
	name     string // "ip" or "ip6"
	iptables string // "iptables" or "ip6tables"
	ipset    string // ipset's family: inet or inet6
	setName  func(string) string
	addr     *strings.Replacer
}

var (
	ipv4 = family{name: "ip", iptables: "iptables", ipset: "inet", setName: func(s string) string { return s },
		addr: strings.NewReplacer()}
	ipv6 = family{name: "ip6", iptables: "ip6tables", ipset: "inet6", setName: v6SetName,
		addr: strings.NewReplacer("127.0.0.0/8", "::1/128", "198.18.0.0/16", "fd00:18::/64", "198.18.5.5/32", "fd00:18::5/128",
			"198.18.0.10,", "fd00:18::10,")}
)

// v6SetName is kube-proxy's IPv6 set name: KUBE-6-..., cut to 31 bytes.
func v6SetName(s string) string {
	s = strings.Replace(s, "KUBE-", "KUBE-6-", 1)
	return s[:min(len(s), 31)]
}

// Owners of the lines of a layout.
const (
	kubeProxy = "kube-proxy"
	others    = "others"
)

// line is one line of an iptables-restore file, and whose it is.
type line struct{ owner, text string }

// kp and ot tag lines as kube-proxy's and others'.
func kp(s string) line { return line{kubeProxy, s} }
func ot(s string) line { return line{others, s} }

// iptablesLayout is what kube-proxy's IPVS mode (v1.37, syncProxyRules and
// writeIptablesRules) writes, beside kubelet's chains, a CNI plugin's
// masquerade chain using a foreign ipset, and kube-proxy's iptables-mode
// KUBE-NODEPORTS (not the IPVS mode's, so it stays).
var iptablesLayout = []line{
	ot("*mangle"),
	ot(":KUBE-IPTABLES-HINT - [0:0]"),
	ot(":KUBE-KUBELET-CANARY - [0:0]"),
	ot("COMMIT"),
	ot("*nat"),
	kp(":KUBE-SERVICES - [0:0]"),
	kp(":KUBE-POSTROUTING - [0:0]"),
	kp(":KUBE-NODE-PORT - [0:0]"),
	kp(":KUBE-LOAD-BALANCER - [0:0]"),
	kp(":KUBE-MARK-MASQ - [0:0]"),
	ot(":KUBE-KUBELET-CANARY - [0:0]"),
	ot(":KUBE-NODEPORTS - [0:0]"),
	ot(":CNI-FOREIGN - [0:0]"),
	kp(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`),
	ot(`-A PREROUTING -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`),
	kp(`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`),
	ot(`-A POSTROUTING -m comment --comment "CNI masquerade" -j CNI-FOREIGN`),
	kp(`-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`),
	kp(`-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ`),
	kp(`-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000`),
	kp(`-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`),
	kp(`-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`),
	kp(`-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`),
	kp(`-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0`),
	kp(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`),
	kp(`-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`),
	kp(`-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER`),
	kp(`-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT`),
	kp(`-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT`),
	kp(`-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT`),
	ot(`-A CNI-FOREIGN -m set --match-set KUBE-ROUTER-FOREIGN src -j MASQUERADE`),
	ot("COMMIT"),
	ot("*filter"),
	kp(":KUBE-FORWARD - [0:0]"),
	kp(":KUBE-NODE-PORT - [0:0]"),
	kp(":KUBE-PROXY-FIREWALL - [0:0]"),
	kp(":KUBE-SOURCE-RANGES-FIREWALL - [0:0]"),
	kp(":KUBE-IPVS-FILTER - [0:0]"),
	kp(":KUBE-IPVS-OUT-FILTER - [0:0]"),
	ot(":KUBE-FIREWALL - [0:0]"),
	ot(":KUBE-KUBELET-CANARY - [0:0]"),
	kp(`-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT`),
	kp(`-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`),
	kp(`-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`),
	ot(`-A INPUT -j KUBE-FIREWALL`),
	kp(`-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`),
	kp(`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`),
	kp(`-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`),
	ot(`-A OUTPUT -j KUBE-FIREWALL`),
	ot(`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`),
	kp(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT`),
	kp(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`),
	kp(`-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`),
	kp(`-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL`),
	kp(`-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN`),
	kp(`-A KUBE-SOURCE-RANGES-FIREWALL -j DROP`),
	kp(`-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN`),
	kp(`-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN`),
	kp(`-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN`),
	kp(`-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j DROP`),
	kp(`-A KUBE-IPVS-OUT-FILTER -s 198.18.5.5/32 -m ipvs --vaddr 198.18.5.5/32 --vproto 6 --vport 80 -j DROP`),
	ot("COMMIT"),
}

// setsLayout is kube-proxy's ipsets (ipsetInfo, with their types) and two
// foreign sets, one used by the CNI chain, as `ipset restore` reads them.
var setsLayout = []line{
	kp("create KUBE-LOOP-BACK hash:ip,port,ip family %s"),
	kp("create KUBE-CLUSTER-IP hash:ip,port family %s"),
	kp("add KUBE-CLUSTER-IP 198.18.0.10,tcp:80"),
	kp("create KUBE-EXTERNAL-IP hash:ip,port family %s"),
	kp("create KUBE-EXTERNAL-IP-LOCAL hash:ip,port family %s"),
	kp("create KUBE-LOAD-BALANCER hash:ip,port family %s"),
	kp("create KUBE-LOAD-BALANCER-FW hash:ip,port family %s"),
	kp("create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family %s"),
	kp("create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family %s"),
	kp("create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family %s"),
	kp("create KUBE-NODE-PORT-TCP bitmap:port range 0-65535"),
	kp("add KUBE-NODE-PORT-TCP 30080"),
	kp("create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535"),
	kp("create KUBE-NODE-PORT-UDP bitmap:port range 0-65535"),
	kp("create KUBE-NODE-PORT-LOCAL-UDP bitmap:port range 0-65535"),
	kp("create KUBE-NODE-PORT-SCTP-HASH hash:ip,port family %s"),
	kp("create KUBE-NODE-PORT-LOCAL-SCTP-HASH hash:ip,port family %s"),
	kp("create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535"),
	kp("create KUBE-IPVS-IPS hash:ip family %s"),
	ot("create KUBE-ROUTER-FOREIGN hash:ip family %s"),
	ot("create KUBE-UNUSED-FOREIGN hash:net family %s"),
}

// render returns the lines of the owners, for family f: addresses and set
// names translated, `%s` replaced by the ipset family.
func render(layout []line, f family, owners ...string) string {
	var b strings.Builder
	for _, l := range layout {
		if !slices.Contains(owners, l.owner) {
			continue
		}
		s := f.addr.Replace(l.text)
		if strings.Contains(s, "%s") {
			s = fmt.Sprintf(s, f.ipset)
		}
		b.WriteString(renameSets(s, f) + "\n")
	}
	return b.String()
}

// setRef finds set names where the layouts use them.
var setRef = regexp.MustCompile(`(create|add|--match-set) (KUBE-[A-Z0-9-]+)`)

// renameSets gives every set name in s its family's name.
func renameSets(s string, f family) string {
	return setRef.ReplaceAllStringFunc(s, func(m string) string {
		verb, name, _ := strings.Cut(m, " ")
		return verb + " " + f.setName(name)
	})
}
