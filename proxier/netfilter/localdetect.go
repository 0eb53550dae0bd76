package netfilter

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// detection says how a table tells cluster-local (pod) traffic from the
// rest: by source address (local-cidrs, the zero value) or, with iface
// set, by the interface the connection entered the node through.
//
// Sources are matched where the masquerade is decided, in nat-postrouting,
// on the conntrack original tuple. The input interface cannot be: it is
// known only in prerouting (locally generated packets have none), and after
// IPVS NAT in LOCAL_IN the packet reaches postrouting through LOCAL_OUT
// without it. So, as kube-proxy's KUBE-MARK-MASQ does, nat chains in
// prerouting and output set mark on the first packet of a new connection
// to a cluster-IP port that did not enter through iface (or comes from
// the node), and nat-postrouting masquerades the packets carrying it and
// clears it (kube-proxy's KUBE-POSTROUTING). IPVS forwards the same skb, so
// its mark survives; nat chains see only a connection's first packet,
// which is all NAT needs.
type detection struct {
	iface model.LocalInterface
	mark  uint32
}

// detectionOf returns the intent's detection. A LocalInterface without a
// mark bit cannot be carried to postrouting: kube-proxy's default bit 14
// is used.
func detectionOf(n *model.Netfilter) detection {
	if n.LocalInterface.Name == "" {
		return detection{}
	}
	mark := n.MasqueradeMark
	if mark == 0 {
		mark = DefaultMasqueradeMark
	}
	return detection{iface: n.LocalInterface, mark: mark}
}

// DefaultMasqueradeMark is kube-proxy's default masquerade mark,
// 1<<iptables.masqueradeBit with the bit's default 14.
const DefaultMasqueradeMark = 1 << 14

// byInterface reports whether traffic is told by its input interface.
func (d detection) byInterface() bool { return d.iface.Name != "" }

// detects reports whether a family of the intent has local detection:
// always by interface, by source with local CIDRs of that family.
func (d detection) detects(n *model.Netfilter, f family) bool {
	return d.byInterface() || len(localCIDRs(n, f)) > 0
}

// notLocal matches, in prerouting, a packet that is not cluster-local.
func (d detection) notLocal(f family) []expr.Any {
	if d.byInterface() {
		return iifname(expr.CmpOpNeq, d.iface)
	}
	return lookup(setLocalCIDRs, true, saddr(f))
}

// sourceRules are nat-postrouting's rule for cluster IPs from sources
// outside the local CIDRs; none by interface (markedRules decide).
func (d detection) sourceRules(f family, ctSvc []loader) []Rule {
	if d.byInterface() {
		return nil
	}
	return []Rule{{
		Comment: "cluster IPs from sources outside the cluster",
		Exprs: join(lookup(setClusterPorts, false, ctSvc...),
			lookup(setLocalCIDRs, true, ctOriginal(ctSrc, f)),
			counter(), masq()),
	}}
}

// markedRules come first in nat-postrouting, so that every marked packet
// has its mark cleared, whichever rule would masquerade it.
func (d detection) markedRules() []Rule {
	if !d.byInterface() {
		return nil
	}
	return []Rule{{
		Comment: "marked in nat-prerouting or nat-output: clear the mark, masquerade",
		Exprs:   join(markTest(d.mark), markSet(^uint32(0), d.mark), counter(), masq()),
	}}
}

// markChains are the nat chains that mark connections to cluster-IP
// ports from outside the pods' interface and from the node.
func (d detection) markChains(f family) []Chain {
	if !d.byInterface() {
		return nil
	}
	or := markSet(^d.mark, d.mark)
	return []Chain{{
		Name: chainNATPre,
		Hook: baseChain(nftables.ChainTypeNAT, *nftables.ChainHookPrerouting, priorityNATMark),
		Rules: []Rule{{
			Comment: "cluster IPs from outside the pods' interfaces: mark for masquerade",
			Exprs:   join(iifname(expr.CmpOpNeq, d.iface), lookup(setClusterPorts, false, svc(daddr(f))...), counter(), or),
		}},
	}, {
		Name: chainNATOut,
		Hook: baseChain(nftables.ChainTypeNAT, *nftables.ChainHookOutput, priorityNATMark),
		Rules: []Rule{{
			Comment: "cluster IPs from the node: mark for masquerade",
			Exprs:   join(lookup(setClusterPorts, false, svc(daddr(f))...), counter(), or),
		}},
	}}
}

// ifNameSize is IFNAMSIZ: an interface name with its terminating NUL.
const ifNameSize = 16

// iifname compares the input interface's name with the detection's: the
// whole name NUL-padded, or only the prefix's bytes, as nft compiles
// `iifname "cni0"` and `iifname "veth*"`.
func iifname(op expr.CmpOp, l model.LocalInterface) []expr.Any {
	data := []byte(l.Name)
	if !l.Prefix {
		data = append(data, make([]byte, ifNameSize-len(data))...)
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: regScratch},
		&expr.Cmp{Op: op, Register: regScratch, Data: data},
	}
}

// markTest matches packets whose mark has every bit of m.
func markTest(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regScratch},
		&expr.Bitwise{SourceRegister: regScratch, DestRegister: regScratch, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(m), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regScratch, Data: make([]byte, 4)},
	}
}

// markSet sets the packet's mark to (mark & mask) ^ xor: with mask ^m and
// xor m it sets the bits of m, with mask all ones it flips them.
func markSet(mask, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regScratch},
		&expr.Bitwise{SourceRegister: regScratch, DestRegister: regScratch, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regScratch, SourceRegister: true},
	}
}
