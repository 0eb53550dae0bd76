package netfilter

import (
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// buildChains returns one family's chains with their fixed rules. Only the
// local detection (configuration) changes them; services only change set
// elements.
func buildChains(f family, d detection) []Chain {
	ctSvc := []loader{ctOriginal(ctDst, f), l4proto(), ctOriginal(expr.CtKeyPROTODST, f)}
	chains := []Chain{
		{Name: chainFirewall, Rules: []Rule{{
			Comment: "drop sources outside loadBalancerSourceRanges",
			Exprs: join(ctStateNew(),
				lookup(setFirewallPorts, false, svc(daddr(f))...),
				lookup(setFirewallAllow, true, append(svc(daddr(f)), saddr(f))...),
				counter(), verdict(expr.VerdictDrop, "")),
		}}},
		{
			Name: chainFirewallPre,
			Hook: baseChain(nftables.ChainTypeFilter, *nftables.ChainHookPrerouting, priorityFirewall),
			Rules: []Rule{{Exprs: join(verdict(expr.VerdictJump, chainFirewall))}, {
				// Prerouting only: the node's own connections go through
				// output (and IPVS takes them there), so they are never
				// dropped here.
				Comment: "drop new connections from outside to externalTrafficPolicy Local ports without a local endpoint",
				Exprs: join(ctStateNew(),
					lookup(setNoLocalEndpoints, false, svc(daddr(f))...),
					d.notLocal(f),
					counter(), verdict(expr.VerdictDrop, "")),
			}},
		},
		{
			// Node-originated traffic skips prerouting (kubernetes#119656).
			Name:  chainFirewallOut,
			Hook:  baseChain(nftables.ChainTypeFilter, *nftables.ChainHookOutput, priorityFirewall),
			Rules: []Rule{{Exprs: join(verdict(expr.VerdictJump, chainFirewall))}},
		},
		{
			Name: chainFilterInput,
			Hook: baseChain(nftables.ChainTypeFilter, *nftables.ChainHookInput, priorityFilterIn),
			Rules: []Rule{{
				Comment: "reject new connections to unused ports of service addresses",
				Exprs: join(ctStateNew(),
					lookup(setServiceIPs, false, daddr(f)),
					lookup(setRejectProtos, false, l4proto()),
					lookup(setServicePorts, true, svc(daddr(f))...),
					counter(), reject(f)),
			}, {
				Comment: "accept node ports (only ends this chain: see package doc)",
				Exprs:   join(lookup(setNodePorts, false, l4proto(), thDport()), counter(), verdict(expr.VerdictAccept, "")),
			}},
		},
		{
			Name:  chainNATPost,
			Hook:  baseChain(nftables.ChainTypeNAT, *nftables.ChainHookPostrouting, priorityNATSource),
			Rules: masqueradeRules(f, ctSvc, d),
		},
	}
	return append(chains, d.markChains(f)...)
}

// svc loads a packet's service key: destination address, protocol, port.
func svc(addr loader) []loader { return []loader{addr, l4proto(), thDport()} }

// masqueradeRules match, after IPVS rewrote the destination, on the
// connection's original destination (the service address and port), which
// conntrack keeps because IPVS runs with net.ipv4.vs.conntrack=1. kube-proxy
// sets a mark in nat PREROUTING/OUTPUT instead; the original tuple needs no
// mark bit shared with other software. Only detection by input interface
// needs one (see detection).
func masqueradeRules(f family, ctSvc []loader, d detection) []Rule {
	return slices.Concat(d.markedRules(), []Rule{{
		Comment: "hairpin: an endpoint reaching itself through a service",
		Exprs:   join(lookup(setHairpin, false, daddr(f), l4proto(), thDport(), saddr(f)), counter(), masq()),
	}, {
		Comment: "masquerade-all cluster IPs; external ports without externalTrafficPolicy Local",
		Exprs:   join(lookup(setMasqPorts, false, ctSvc...), counter(), masq()),
	}}, d.sourceRules(f, ctSvc), []Rule{{
		Comment: "node-originated traffic whose source is a service address",
		Exprs: join(lookup(setServiceIPs, false, ctOriginal(ctSrc, f)),
			lookup(setServicePorts, false, ctSvc...),
			counter(), masq()),
	}})
}

func baseChain(t nftables.ChainType, hook nftables.ChainHook, priority int32) *Hook {
	return &Hook{Type: t, Hook: hook, Priority: priority, Policy: nftables.ChainPolicyAccept}
}

// Registers: NFT_REG_1 for scratch values, NFT_REG32_00 onwards for
// concatenated keys (each field padded to 32 bits).
const (
	regScratch = 1
	reg32First = 8
)

// loader loads one key field into a register.
type loader struct {
	size int // bytes before padding
	load func(reg uint32) expr.Any
}

func daddr(f family) loader { return payloadNet(f.daddr, f.addrLen) }
func saddr(f family) loader { return payloadNet(f.saddr, f.addrLen) }

func payloadNet(offset uint32, size int) loader {
	return loader{size: size, load: func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(size)}
	}}
}

// thDport loads the destination port of TCP, UDP or SCTP: all three carry
// it at offset 2 of the transport header.
func thDport() loader {
	return loader{size: 2, load: func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	}}
}

func l4proto() loader {
	return loader{size: 1, load: func(reg uint32) expr.Any {
		return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}
	}}
}

// ctOriginal loads a field of the connection's original-direction tuple:
// ctSrc or ctDst for the family's address, expr.CtKeyPROTODST for the port.
func ctOriginal(key expr.CtKey, f family) loader {
	size := 2
	switch key {
	case ctSrc:
		key, size = f.ctSrc, f.addrLen
	case ctDst:
		key, size = f.ctDst, f.addrLen
	}
	return loader{size: size, load: func(reg uint32) expr.Any {
		return &expr.Ct{Key: key, Register: reg, Direction: 0} // IP_CT_DIR_ORIGINAL
	}}
}

// Stand-ins for the family's ct address keys in ctOriginal.
const (
	ctSrc = expr.CtKeySRC
	ctDst = expr.CtKeyDST
)

// lookup loads the fields into consecutive registers and matches the
// concatenation against a named set (not in it when invert).
func lookup(set string, invert bool, fields ...loader) []expr.Any {
	var out []expr.Any
	reg := uint32(reg32First)
	for _, l := range fields {
		out = append(out, l.load(reg))
		reg += uint32((l.size + 3) / 4)
	}
	return append(out, &expr.Lookup{SourceRegister: reg32First, SetName: set, Invert: invert})
}

// ctStateNew matches the first packet of a connection.
func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: regScratch},
		&expr.Bitwise{
			SourceRegister: regScratch, DestRegister: regScratch, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regScratch, Data: make([]byte, 4)},
	}
}

func counter() []expr.Any { return []expr.Any{&expr.Counter{}} }

func masq() []expr.Any { return []expr.Any{&expr.Masq{FullyRandom: true}} }

func reject(f family) []expr.Any {
	return []expr.Any{&expr.Reject{Type: f.rejectType, Code: f.rejectCode}}
}

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
