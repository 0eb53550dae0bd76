// Package kubeproxy removes what kube-proxy's IPVS mode leaves on a node
// besides IPVS itself: its iptables chains, the jumps to them from the
// built-in chains, and its ipsets. `ipvs-proxy --cleanup
// --cleanup-kube-proxy` calls it after removing the virtual servers and
// kube-ipvs0 (which kube-proxy lays out as we do), so a node can move from
// kube-proxy to ipvs-proxy without running `kube-proxy --cleanup`, and
// without any iptables, ipset or nft executable (issue 4, "Cleanup").
//
// # What is kube-proxy's
//
// Exactly what kube-proxy's own IPVS cleanup removes
// (kubernetes pkg/proxy/ipvs: iptablesCleanupChains, iptablesJumpChain,
// ipsetInfo), listed as data in leftovers.go: eleven chains in the nat and
// filter tables of both families, and seventeen ipsets, plus their IPv6
// names (kube-proxy names them KUBE-6-..., cut to 31 characters; its cleanup
// forgets them, we do not). Other KUBE-* objects belong to others and stay:
// kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY and KUBE-IPTABLES-HINT,
// kube-proxy's iptables-mode chains, kube-router's or a CNI plugin's
// chains and sets.
//
// # Data flow
//
//	list (nf_tables netlink, getsockopt for legacy) ─► table ─► planTable (pure) ─► tablePlan
//	                                                                  │
//	  iptables-nft:   one nf_tables transaction per table ◄───────────┤
//	  iptables-legacy: reported, with the commands to run ◄───────────┘
//	then ipsets: IPSET_CMD_DESTROY per name (ipset netlink, ipset.go) ─► Report
//
// planTable decides, from a table's chains and the jumps between them,
// which rules and chains go: every jump from a built-in chain into one of
// kube-proxy's chains, and kube-proxy's chains themselves, except those a
// foreign chain still jumps to (and the chains those reach): deleting them
// would fail with EBUSY, and flushing them would change what the foreign
// rule does. Kept chains are reported with the reason.
//
// iptables-nft stores iptables tables as nf_tables tables (`ip nat`, `ip
// filter`, `ip6 ...`) whose rules hold xtables-compat expressions; the
// jumps are native verdicts, which is all this package decodes
// (rules.go), so rules it cannot otherwise read are no obstacle. One
// transaction per table deletes the jump rules, flushes kube-proxy's chains
// and deletes them, so packets see the table before or after, never half.
//
// Legacy iptables (the ip_tables modules) is read with the getsockopt
// interface iptables-legacy itself uses (legacy.go), for tables already in
// /proc/net/ip_tables_names (reading no other, so no table is created).
// Changing it means rewriting the whole table blob with IPT_SO_SET_REPLACE,
// which this package does not attempt: what is left is reported with the
// iptables-legacy commands an operator runs, and the cleanup goes on.
//
// ipsets go last: a set an iptables rule still matches cannot be destroyed
// (IPSET_ERR_BUSY). nf_tables frees deleted rules, and with them their
// xt_set references, from a work queue after the transaction commits, so
// a set that is busy right after an nf_tables change is retried for about
// 1.6 s (in the VM's 6.1 kernel the first attempt has always succeeded);
// a set still busy then (matched by legacy rules or a foreign rule) is
// reported. A missing set is no error: the destroy request carries
// NLM_F_EXCL so that the kernel answers ENOENT rather than success.
//
// Fake is the in-memory Interface: a node's chains, jumps and sets, cleaned
// by the same planTable as Kernel.
package kubeproxy
