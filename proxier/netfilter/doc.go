// Package netfilter programs the part of a Service that IPVS cannot express:
// masquerading, loadBalancerSourceRanges, rejecting unused ports on service
// addresses, accepting node ports, and dropping outside connections to
// externalTrafficPolicy Local ports this node serves with other nodes'
// endpoints. It is the only package that imports an nftables library.
//
// # Data flow
//
//	model.Netfilter ─► Translate (pure) ─► Program ─► Kernel.Apply ─► one netlink batch
//	                                          ▲                          │
//	      Snapshot: Verify (structural compare), Record ◄── Kernel.Read ◄────┘
//
//	(old, new) ─► Diff (pure) ─► ElementDiff ─► Kernel.Update ─► one batch of element changes
//
// Translate turns the intent into a Program: our tables with their sets,
// chains and rules as plain values, printable in nft syntax (String). The
// rules are a fixed list (10 per table; 12 with detection by interface):
// only the configuration changes them, services only add set elements, so
// the rule count does not grow with the number of services. Apply sends the
// whole program in ONE transaction that first deletes our tables and then
// re-creates them, so packets see either the old or the new ruleset, never a
// mix, and nothing of a failed sync is left behind. Snapshot reads the
// tables back (Read) once; its Verify compares them with the intent's
// translation, which gives the engine drift detection, and its Record
// decodes the ports the program serves, which a restarted engine reads to
// know what a previous run created. There is no Current() returning a
// model.Netfilter, because the sets do not record the service kind of
// every port. The engine keeps the last applied intent and re-applies
// when Verify reports ErrDrift (Apply is idempotent).
//
// # Updates
//
// Re-creating the tables costs time linear in the number of services (at
// 10,000 services, 115,000 elements: 0.3 to 0.7 s on a 6.18 host kernel,
// 6 to 19 s in the emulated test VM), so the engine sends changes with
// Update(old, new) once it knows what the kernel holds: adding one service
// then takes 3 ms on the host and about 50 ms in the VM, removing it about
// 22 ms and 100 ms (figures: test/kernel/netfilter/README.md). Diff computes the
// element changes: per set, the elements of Translate(new) not in
// Translate(old) are added and the others deleted, in one transaction,
// every deletion first. It translates only the groups of intent entries
// that changed (see Diff), so its cost is a walk over both intents plus
// the changes. A change that is more than elements (an address family
// appears or goes, LocalCIDRs, the local interface or its mark change)
// replaces the tables as Apply does.
// local-cidrs is the one interval set never diffed: a single-field
// interval set is kept by the kernel as range boundaries, and replacing it
// whole is the safe way for a change that only configuration makes. The
// load-balancer source ranges (firewall-allow) are diffed: the kernel keeps
// each concatenated range as one element, ranges of a port are merged and
// disjoint, and a changed range is deleted before its overlapping
// replacement is added. Additions are exclusive (NLM_F_EXCL), so tables
// that are not what old says make the kernel refuse the whole batch
// (Linux 6.1 would otherwise accept a range that starts where one it holds
// starts, and keep the old one); the engine then applies the whole program.
//
// # Tables
//
// One table per address family, `table ip ipvs-proxy` and `table ip6
// ipvs-proxy`, each present only when the intent has an address of that
// family, rather than one `inet` table: every set is typed by family anyway,
// rules need no `meta nfproto` guards, each table rejects with its own ICMP
// (the family-independent ICMPX reject exists only in inet tables), and a
// node without IPv6 services carries no ip6 table.
//
// Chains (priorities relative to IPVS's hooks: LOCAL_IN 98/99 and LOCAL_OUT
// -99/-98, see net/netfilter/ipvs/ip_vs_core.c):
//
//   - firewall-prerouting and firewall-output (filter, priority -110) jump
//     to firewall, which drops new connections to a load-balancer port with
//     loadBalancerSourceRanges from sources outside them. The output hook
//     covers node-originated traffic (kubernetes#119656): a node process
//     connecting to a load-balancer address bound on the dummy interface
//     gets that address as its source, so it is dropped unless a range
//     covers it. kube-proxy allows node access when a range contains a node
//     IP; proxier.Build can express that by adding the load-balancer
//     address itself to the port's SourceRanges. Ports on the host's own
//     addresses (model.ServicePort.Host) are not firewalled: a node proxy
//     is never the reason the node is unreachable.
//   - firewall-prerouting also drops new connections to an
//     externalTrafficPolicy Local port without a local endpoint
//     (no-local-endpoints, from model.ServicePort.NoLocalEndpoints) from
//     sources outside local-cidrs (with a LocalInterface: connections that
//     did not enter through it). Such a port's virtual server takes other
//     nodes' endpoints, as kube-proxy's IPVS mode does (kubernetes#97081),
//     so that pods and the node reach the service through its external
//     addresses; a client outside the cluster would be forwarded without
//     masquerade and get its reply from another node, which it discards.
//     kube-proxy's nftables mode drops those connections too (its
//     no-endpoint-services and no-endpoint-nodeports verdict maps, once
//     its EXT chain has sent pod and node traffic to the cluster's
//     endpoints). The node's own connections never pass prerouting (IPVS
//     takes them in LOCAL_OUT), so they are never dropped here. A family
//     without local detection (no local CIDR, no interface) gets no element: without local detection, pods
//     cannot be told from outside clients, and their connections must work.
//     The port stays open to the host firewall and the health-check node
//     port still answers 503, so external load balancers avoid the node.
//   - filter-input (filter, priority -10) rejects, with ICMP port
//     unreachable, new TCP/UDP/SCTP connections to a cluster, external or
//     load-balancer address on a port no service uses (kubernetes#72236:
//     host daemons listening on 0.0.0.0 must not be reachable through
//     service addresses). It runs before IPVS (LOCAL_IN 99), which takes
//     the ports in use. ICMP (ping) to service addresses still works. An
//     address of the host's own (a node IP given as an external IP, say)
//     is not in service-ips even when services use it: its SSH, kubelet
//     and other ports stay reachable.
//   - nat-postrouting (nat, priority 100) masquerades. IPVS NAT rewrites
//     the destination in LOCAL_IN/LOCAL_OUT and sends the packet out
//     through LOCAL_OUT and POSTROUTING; with net.ipv4.vs.conntrack=1 the
//     connection keeps its conntrack entry, whose original tuple still holds
//     the service address and port. So where kube-proxy's IPVS mode marks
//     packets in nat PREROUTING/OUTPUT (KUBE-MARK-MASQ, 0x4000, matched by
//     ipsets KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP, KUBE-LOAD-BALANCER,
//     KUBE-NODE-PORT-*) and masquerades marked packets in POSTROUTING, we
//     match `ct original ip daddr . meta l4proto . ct original proto-dst`
//     against sets in POSTROUTING: no mark bit shared with other software,
//     one chain. Masqueraded are: hairpin connections (daddr . port . saddr
//     of a local endpoint reaching itself, like KUBE-LOOP-BACK), every
//     cluster-IP connection with MasqueradeAll, cluster-IP connections from
//     sources outside LocalCIDRs (per family; none when a family has no
//     local CIDR; with a LocalInterface, those marked: see below), external, load-balancer and node ports unless
//     externalTrafficPolicy is Local (Local wins over MasqueradeAll, as in
//     kube-proxy), and connections whose source is a service address
//     (node-originated traffic, kube-proxy's "src,dst" rule).
//   - nat-prerouting and nat-output (nat, priority -110), only with
//     detectLocalMode BridgeInterface or InterfaceNamePrefix
//     (model.Netfilter.LocalInterface): see below.
//
// # Telling pods by interface: the one mark
//
// With detectLocalMode BridgeInterface or InterfaceNamePrefix, cluster-local
// traffic is what enters the node through the pods' bridge, or through an
// interface whose name has the pods' prefix (kube-proxy's IfNotLocal is
// `! -i cni0` or `! -i veth+`, pkg/proxy/util/localdetector.go). That
// cannot be matched where we decide, in postrouting on the original tuple:
// the input interface is known only in prerouting; locally generated
// packets have none; and after IPVS NAT in LOCAL_IN the packet goes
// through LOCAL_OUT to POSTROUTING without it. Nor can conntrack say: its
// tuples hold addresses, not interfaces, and the bridge's pods may use any
// address. So the classification is made where the interface is known and
// carried to postrouting in a packet mark bit, as kube-proxy's IPVS mode
// does (KUBE-MARK-MASQ in nat PREROUTING and OUTPUT, KUBE-POSTROUTING):
//
//   - nat-prerouting sets the bit on a connection to a cluster-ports port
//     (cluster IPs without masquerade-all) that did not enter through the
//     interface; nat-output sets it on every connection of the node's own
//     to such a port (they enter through no interface: kube-proxy's
//     `! -i cni0` matches them too, so the node's connections are
//     masqueraded). Only cluster IPs are classified, as in kube-proxy's
//     IPVS mode; external, load-balancer and node ports keep their rules.
//   - nat-postrouting's first rule masquerades a packet carrying the bit and
//     clears it (kube-proxy's --xor-mark), before any other rule can
//     masquerade it without clearing, so the bit never leaves the node
//     (an encapsulating CNI would otherwise carry it into the outer packet).
//
// IPVS NAT forwards the same skb from LOCAL_IN to POSTROUTING, so its mark
// survives, and nat chains run for the first packet of a connection only,
// which is all NAT needs: a retransmitted SYN is not marked again. The
// mark chains are nat chains at priority -110, which nf_nat runs from its
// own hook at dstnat (-100), still before IPVS's LOCAL_OUT (-99).
//
// The bit is kube-proxy's own, 1<<iptables.masqueradeBit (default 14), so
// software that already keeps off kube-proxy's bit (CNI plugins, service
// meshes) keeps working, and a node handed over from kube-proxy means the
// same by it. A conntrack mark or label would not be shared with packets,
// but it is as much a shared resource (Cilium and Calico use ct mark bits),
// would outlive the packet in the conntrack table, and connlabels need
// their extension on the conntrack entry before it is confirmed; the
// packet bit is what operators of kube-proxy nodes have already made
// room for. ClusterCIDR and NodeCIDR use no mark at all.
//
// # Node ports and the host firewall: what nftables cannot do
//
// filter-input accepts node-port traffic (proto . port in node-ports), but
// in nftables an accept ends only the base chain that says it: the packet
// still traverses every other base chain of the hook, in any table, and a
// drop there (an `inet filter` table with policy drop, firewalld, ufw,
// iptables-nft's INPUT policy DROP) is final. kube-proxy's iptables and
// IPVS modes insert jumps into the host's own INPUT/FORWARD chains; we never
// edit tables we do not own, so node ports (and, for IPVS replies from
// remote endpoints, FORWARD of established connections) must be allowed by
// the host's firewall. The accept rule's counter still shows node-port
// traffic reaching the node. kube-proxy's nftables mode has the same
// limitation.
//
// # Library choice
//
// github.com/google/nftables (v0.3.0) speaks nf_tables netlink directly, so
// the daemon stays one static binary (CGO_ENABLED=0) that needs no `nft`
// executable on the node, and a batch is built from typed values rather than
// text. sigs.k8s.io/knftables has a better fake and nft syntax, but it runs
// the `nft` CLI for every transaction. The costs of google/nftables are
// handled here: set elements are sent in chunks below netlink's 64 KiB
// attribute limit, the socket's send buffer is raised (SO_SNDBUFFORCE) so a
// batch of tens of thousands of elements fits in one sendmsg, and lookups
// carry the batch-local set ID.
//
// Two defects of the library are worked around. Its ct expression sends the
// conntrack direction only for the generic NFT_CT_SRC/DST keys, while nft
// (1.0.6) aborts with an assertion when listing a rule that uses them: the
// rules use the family keys NFT_CT_SRC_IP/DST_IP(6), which the batch gets by
// being marshalled through a capture connection and patched before it is
// sent (transact.go). And its GetRules cannot decode the direction the
// kernel returns (a u8 read as a u32), so rules are dumped here
// (rulesdump.go). With that, `nft list ruleset` prints our tables; nft 1.0.6
// cannot parse `ct original proto-dst` inside a concatenation, though, so a
// listing saved with our tables in it does not load back with `nft -f`
// (nothing needs to: Apply rebuilds them). Set elements are dumped here
// too (setdump.go), for speed: the kernel walks a hash set from its start
// again for each dump message, and the library reads in 4 KiB messages, so
// its listing of 700,000 elements cost 8.3 s of kernel time where 32 KiB
// messages, decoded in place, take 1.3 s.
//
// Fake is the in-memory Interface for the engine's tests: it stores the last
// applied intent, dumps it canonically and injects errors. Its Update stores
// the new intent (refusing an old one it does not hold) and counts apart
// from Apply (CallUpdate).
package netfilter
