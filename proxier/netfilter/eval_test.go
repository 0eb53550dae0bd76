package netfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// packet is what the evaluator needs to know about a packet at a hook.
type packet struct {
	hook         nftables.ChainHook
	saddr, daddr netip.Addr
	proto        model.Protocol
	dport        uint16
	state        uint32 // expr.CtStateBit*; NEW when zero
	// orig is the conntrack original tuple (saddr, daddr, dport); the
	// packet's own when unset. After IPVS NAT it holds the service.
	origSrc, origDst netip.Addr
	origDport        uint16
	// iif is the input interface's name, "" for the node's own packets;
	// mark is the packet mark, which rules may set.
	iif  string
	mark uint32
}

// Outcomes of evaluate.
const (
	outAccept     = "accept" // no chain dropped, rejected or NATed the packet
	outDrop       = "drop"
	outReject     = "reject"
	outMasquerade = "masquerade"
)

// evaluate runs a packet through the program's base chains of its hook, in
// priority order, as the kernel does: an interpreter of the expressions this
// package writes, so tests can ask what happens to a packet without root.
func evaluate(p *Program, pkt packet) string {
	out, _ := evaluateMark(p, pkt)
	return out
}

// evaluateMark is evaluate that also returns the packet's mark after the
// hook.
func evaluateMark(p *Program, pkt packet) (string, uint32) {
	if pkt.state == 0 {
		pkt.state = expr.CtStateBitNEW
	}
	if !pkt.origSrc.IsValid() {
		pkt.origSrc, pkt.origDst, pkt.origDport = pkt.saddr, pkt.daddr, pkt.dport
	}
	fam := nftables.TableFamilyIPv4
	if pkt.daddr.Is6() {
		fam = nftables.TableFamilyIPv6
	}
	for _, t := range p.Tables {
		if t.Family != fam {
			continue
		}
		var base []Chain
		for _, c := range t.Chains {
			if c.Hook != nil && c.Hook.Hook == pkt.hook {
				base = append(base, c)
			}
		}
		slices.SortStableFunc(base, func(a, b Chain) int { return int(a.Hook.Priority - b.Hook.Priority) })
		for _, c := range base {
			if v := runChain(&t, c, &pkt); v != outAccept && v != "" {
				return v, pkt.mark
			}
		}
	}
	return outAccept, pkt.mark
}

// connect follows the first packet of a connection to a service through
// this node: prerouting when it comes in through pkt.iif, output when the
// node sends it (iif ""), then IPVS NAT to endpoint and postrouting, with
// the packet mark carried from hook to hook as the kernel carries
// skb->mark. It returns postrouting's outcome (or the first hook's, when
// that drops or rejects) and the mark the packet leaves with.
func connect(p *Program, pkt packet, endpoint string) (string, uint32) {
	first := prerouting
	if pkt.iif == "" {
		first = output
	}
	pkt.hook = first
	out, mark := evaluateMark(p, pkt)
	if out != outAccept {
		return out, mark
	}
	pkt.mark, pkt.hook = mark, postrouting
	natTo(endpoint)(&pkt)
	return evaluateMark(p, pkt)
}

// runChain returns the chain's verdict: "" when it ran to its end or
// returned, else an outcome.
func runChain(t *Table, c Chain, pkt *packet) string {
	for _, r := range c.Rules {
		if v := runRule(t, r.Exprs, pkt); v != "" {
			return v
		}
	}
	return ""
}

func runRule(t *Table, exprs []expr.Any, pkt *packet) string {
	var regs [16 * 4]byte // NFT_REG_1..4 = NFT_REG32_00..15
	reg := func(r uint32) []byte {
		if r < reg32First {
			return regs[(r-1)*16:]
		}
		return regs[(r-reg32First)*4:]
	}
	store := func(r uint32, b []byte) {
		dst := reg(r)
		clear(dst[:(len(b)+3)&^3]) // the kernel zeroes a partly written register
		copy(dst, b)
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Payload:
			store(e.DestRegister, payload(t.Family, e, *pkt))
		case *expr.Meta:
			if e.SourceRegister {
				setMeta(e.Key, reg(e.Register), pkt)
			} else {
				store(e.Register, metaLoad(e.Key, *pkt))
			}
		case *expr.Ct:
			store(e.Register, ctLoad(e.Key, *pkt))
		case *expr.Bitwise:
			src, out := reg(e.SourceRegister)[:e.Len], make([]byte, e.Len)
			for i := range out {
				out[i] = src[i]&e.Mask[i] ^ e.Xor[i]
			}
			store(e.DestRegister, out)
		case *expr.Cmp:
			eq := bytes.Equal(reg(e.Register)[:len(e.Data)], e.Data)
			if eq != (e.Op == expr.CmpOpEq) {
				return ""
			}
		case *expr.Lookup:
			if member(t, e.SetName, reg(e.SourceRegister)) == e.Invert {
				return ""
			}
		case *expr.Counter:
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictAccept:
				return outAccept
			case expr.VerdictDrop:
				return outDrop
			case expr.VerdictJump:
				for _, c := range t.Chains {
					if c.Name == e.Chain {
						if v := runChain(t, c, pkt); v != "" {
							return v
						}
					}
				}
			}
		case *expr.Masq:
			return outMasquerade
		case *expr.Reject:
			return outReject
		default:
			panic(fmt.Sprintf("evaluate: unknown expression %T", e))
		}
	}
	return ""
}

func metaLoad(k expr.MetaKey, pkt packet) []byte {
	switch k {
	case expr.MetaKeyL4PROTO:
		return []byte{byte(pkt.proto)}
	case expr.MetaKeyIIFNAME:
		name := make([]byte, ifNameSize) // no input interface: all NULs
		copy(name, pkt.iif)
		return name
	case expr.MetaKeyMARK:
		return binaryutil.NativeEndian.PutUint32(pkt.mark)
	}
	panic(fmt.Sprintf("evaluate: unknown meta key %d", k))
}

func setMeta(k expr.MetaKey, b []byte, pkt *packet) {
	if k != expr.MetaKeyMARK {
		panic(fmt.Sprintf("evaluate: cannot set meta key %d", k))
	}
	pkt.mark = binaryutil.NativeEndian.Uint32(b[:4])
}

func payload(fam nftables.TableFamily, e *expr.Payload, pkt packet) []byte {
	if e.Base == expr.PayloadBaseTransportHeader {
		th := make([]byte, 4)
		binary.BigEndian.PutUint16(th[2:], pkt.dport)
		return th[e.Offset : e.Offset+e.Len]
	}
	var nh []byte
	if fam == nftables.TableFamilyIPv4 {
		nh = make([]byte, 20)
		copy(nh[12:], pkt.saddr.AsSlice())
		copy(nh[16:], pkt.daddr.AsSlice())
	} else {
		nh = make([]byte, 40)
		copy(nh[8:], pkt.saddr.AsSlice())
		copy(nh[24:], pkt.daddr.AsSlice())
	}
	return nh[e.Offset : e.Offset+e.Len]
}

func ctLoad(k expr.CtKey, pkt packet) []byte {
	switch k {
	case expr.CtKeySTATE:
		return binaryutil.NativeEndian.PutUint32(pkt.state)
	case ctKeySrcIP, ctKeySrcIP6:
		return pkt.origSrc.AsSlice()
	case ctKeyDstIP, ctKeyDstIP6:
		return pkt.origDst.AsSlice()
	case expr.CtKeyPROTODST:
		return binary.BigEndian.AppendUint16(nil, pkt.origDport)
	}
	panic(fmt.Sprintf("evaluate: unknown ct key %d", k))
}

// member reports whether the key at the start of b is in the set: equal to
// an element, or for interval sets within its range field by field.
func member(t *Table, name string, b []byte) bool {
	for _, s := range t.Sets {
		if s.Name != name {
			continue
		}
		key := b[:s.keyLen()]
		for _, e := range s.Elements {
			if !s.Interval && bytes.Equal(e.Key, key) {
				return true
			}
			if s.Interval && bytes.Compare(e.Key, key) <= 0 && bytes.Compare(key, e.KeyEnd) <= 0 && samePrefix(&s, e, key) {
				return true
			}
		}
		return false
	}
	panic("evaluate: no set " + name)
}

// samePrefix checks that every field but the last (the range) equals the
// element's: a lexicographic range over a concatenation would accept more.
func samePrefix(s *Set, e Element, key []byte) bool {
	off := 0
	for _, f := range s.Fields[:len(s.Fields)-1] {
		n := (f.size() + 3) &^ 3
		if !bytes.Equal(e.Key[off:off+n], key[off:off+n]) {
			return false
		}
		off += n
	}
	return true
}
