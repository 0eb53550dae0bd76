package netfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// String renders the program in nft's syntax, one set element per line, in
// canonical order: what golden tests compare and what Verify diffs against
// the kernel's tables.
func (p *Program) String() string {
	var b strings.Builder
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "table %s %s {\n", familyName(t.Family), t.Name)
		for _, s := range t.Sets {
			renderSet(&b, s)
		}
		for _, c := range t.Chains {
			renderChain(&b, t.Family, c)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func renderSet(b *strings.Builder, s Set) {
	types := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		types[i] = f.String()
	}
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", s.Name, strings.Join(types, " . "))
	if s.Interval {
		b.WriteString("\t\tflags interval\n")
	}
	if len(s.Elements) > 0 {
		b.WriteString("\t\telements = {\n")
		for i, e := range s.Elements {
			sep := ","
			if i == len(s.Elements)-1 {
				sep = ""
			}
			fmt.Fprintf(b, "\t\t\t%s%s\n", s.renderElement(e), sep)
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")
}

// String returns the nft name of the field's type.
func (f Field) String() string {
	switch f {
	case FieldIPv4:
		return "ipv4_addr"
	case FieldIPv6:
		return "ipv6_addr"
	case FieldProto:
		return "inet_proto"
	case FieldPort:
		return "inet_service"
	}
	return fmt.Sprintf("field-%d", uint8(f))
}

// size is the field's length before padding to a register.
func (f Field) size() int {
	switch f {
	case FieldIPv4:
		return 4
	case FieldIPv6:
		return 16
	case FieldProto:
		return 1
	case FieldPort:
		return 2
	}
	return 0
}

// keyLen is the length of the set's key: a concatenation pads each field to
// 32 bits, a single field is not padded.
func (s *Set) keyLen() int {
	if len(s.Fields) == 1 {
		return s.Fields[0].size()
	}
	n := 0
	for _, f := range s.Fields {
		n += (f.size() + 3) &^ 3
	}
	return n
}

// renderElement prints an element field by field; the last field of an
// interval element is a prefix when it is one, else a range.
func (s *Set) renderElement(e Element) string {
	parts := make([]string, len(s.Fields))
	off := 0
	for i, f := range s.Fields {
		end := off + f.size()
		if end > len(e.Key) {
			return fmt.Sprintf("malformed %x", e.Key)
		}
		parts[i] = formatField(f, e.Key[off:end])
		if s.Interval && i == len(s.Fields)-1 && len(e.KeyEnd) >= end {
			parts[i] = formatRange(f, e.Key[off:end], e.KeyEnd[off:end])
		}
		off += (f.size() + 3) &^ 3
	}
	return strings.Join(parts, " . ")
}

func formatField(f Field, b []byte) string {
	switch f {
	case FieldIPv4, FieldIPv6:
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	case FieldProto:
		return model.Protocol(b[0]).String()
	case FieldPort:
		return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
	}
	return fmt.Sprintf("0x%x", b)
}

func formatRange(f Field, from, to []byte) string {
	if bytes.Equal(from, to) {
		return formatField(f, from)
	}
	if f == FieldIPv4 || f == FieldIPv6 {
		if p, ok := rangePrefix(from, to); ok {
			return p.String()
		}
	}
	return formatField(f, from) + "-" + formatField(f, to)
}

// rangePrefix returns the prefix covering exactly [from, to], if any.
func rangePrefix(from, to []byte) (netip.Prefix, bool) {
	a, ok1 := netip.AddrFromSlice(from)
	z, ok2 := netip.AddrFromSlice(to)
	if !ok1 || !ok2 {
		return netip.Prefix{}, false
	}
	for bits := a.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(a, bits).Masked()
		if p.Addr() != a {
			break
		}
		if lastAddr(p) == z {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func renderChain(b *strings.Builder, fam nftables.TableFamily, c Chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	if c.Hook != nil {
		policy := "accept"
		if c.Hook.Policy == nftables.ChainPolicyDrop {
			policy = "drop"
		}
		fmt.Fprintf(b, "\t\ttype %s hook %s priority %d; policy %s;\n", c.Hook.Type, hookName(c.Hook.Hook), c.Hook.Priority, policy)
	}
	for _, r := range c.Rules {
		line := RenderExprs(fam, r.Exprs)
		if r.Comment != "" {
			line += fmt.Sprintf(" comment %q", r.Comment)
		}
		fmt.Fprintf(b, "\t\t%s\n", line)
	}
	b.WriteString("\t}\n")
}

func hookName(h nftables.ChainHook) string {
	switch h {
	case *nftables.ChainHookPrerouting:
		return "prerouting"
	case *nftables.ChainHookInput:
		return "input"
	case *nftables.ChainHookForward:
		return "forward"
	case *nftables.ChainHookOutput:
		return "output"
	case *nftables.ChainHookPostrouting:
		return "postrouting"
	}
	return fmt.Sprintf("hook-%d", h)
}

// RenderExprs prints a rule's expressions in nft's syntax. It knows the
// expressions this package writes (and the kernel returns for them); others
// are printed by type so that a difference still shows.
func RenderExprs(fam nftables.TableFamily, exprs []expr.Any) string {
	var out, pending []string
	flush := func() string {
		s := strings.Join(pending, " . ")
		pending = nil
		return s
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			if e.SourceRegister {
				out = append(out, fmt.Sprintf("%s set %s", loadName(fam, e), flush()))
			} else {
				pending = append(pending, loadName(fam, e))
			}
		case *expr.Payload, *expr.Ct:
			pending = append(pending, loadName(fam, e))
		case *expr.Bitwise:
			if n := len(pending); n > 0 {
				pending[n-1] = bitwiseName(pending[n-1], e)
			}
		case *expr.Cmp:
			out = append(out, renderCmp(flush(), e))
		case *expr.Lookup:
			op := ""
			if e.Invert {
				op = "!= "
			}
			out = append(out, fmt.Sprintf("%s %s@%s", flush(), op, e.SetName))
		default:
			if len(pending) > 0 {
				out = append(out, flush())
			}
			out = append(out, statementName(fam, e))
		}
	}
	if len(pending) > 0 {
		out = append(out, flush())
	}
	return strings.Join(out, " ")
}

func loadName(fam nftables.TableFamily, e expr.Any) string {
	f := families[0]
	if fam == nftables.TableFamilyIPv6 {
		f = families[1]
	}
	switch e := e.(type) {
	case *expr.Payload:
		switch {
		case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == f.saddr && int(e.Len) == f.addrLen:
			return f.name + " saddr"
		case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == f.daddr && int(e.Len) == f.addrLen:
			return f.name + " daddr"
		case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
			return "th dport"
		}
		return fmt.Sprintf("@base%d,%d,%d", e.Base, e.Offset*8, e.Len*8)
	case *expr.Meta:
		switch e.Key {
		case expr.MetaKeyL4PROTO:
			return "meta l4proto"
		case expr.MetaKeyIIFNAME:
			return "iifname"
		case expr.MetaKeyMARK:
			return "meta mark"
		}
		return fmt.Sprintf("meta key-%d", e.Key)
	case *expr.Ct:
		dir := "original"
		if e.Direction == 1 {
			dir = "reply"
		}
		switch e.Key {
		case expr.CtKeySTATE:
			return "ct state"
		case f.ctSrc:
			return fmt.Sprintf("ct %s %s saddr", dir, f.name)
		case f.ctDst:
			return fmt.Sprintf("ct %s %s daddr", dir, f.name)
		case expr.CtKeyPROTODST:
			return fmt.Sprintf("ct %s proto-dst", dir)
		}
		return fmt.Sprintf("ct key-%d", e.Key)
	}
	return fmt.Sprintf("%T", e)
}

// ctStates names the conntrack state bits nft prints.
var ctStates = []struct {
	bit  uint32
	name string
}{
	{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"},
	{expr.CtStateBitRELATED, "related"}, {expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"},
}

// bitwiseName renders `load & mask`, and a mark's `| bits`, `^ bits`.
func bitwiseName(load string, e *expr.Bitwise) string {
	zero := bytes.Count(e.Xor, []byte{0}) == len(e.Xor)
	if load != "meta mark" || len(e.Mask) != 4 || len(e.Xor) != 4 {
		if zero {
			return load + " & " + maskName(load, e.Mask)
		}
		return fmt.Sprintf("%s & 0x%x ^ 0x%x", load, e.Mask, e.Xor)
	}
	mask, xor := binaryutil.NativeEndian.Uint32(e.Mask), binaryutil.NativeEndian.Uint32(e.Xor)
	switch {
	case xor == 0:
		return fmt.Sprintf("%s & %#x", load, mask)
	case mask == ^xor:
		return fmt.Sprintf("%s | %#x", load, xor)
	case mask == ^uint32(0):
		return fmt.Sprintf("%s ^ %#x", load, xor)
	}
	return fmt.Sprintf("%s & %#x ^ %#x", load, mask, xor)
}

func maskName(load string, mask []byte) string {
	if load != "ct state" || len(mask) != 4 {
		return fmt.Sprintf("0x%x", mask)
	}
	v := binaryutil.NativeEndian.Uint32(mask)
	var names []string
	for _, s := range ctStates {
		if v&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ",")
}

func renderCmp(load string, e *expr.Cmp) string {
	zero := bytes.Count(e.Data, []byte{0}) == len(e.Data)
	if base, state, ok := strings.Cut(load, " & "); ok && base == "ct state" && e.Op == expr.CmpOpNeq && zero {
		return "ct state " + state
	}
	ops := map[expr.CmpOp]string{
		expr.CmpOpEq: "==", expr.CmpOpNeq: "!=", expr.CmpOpLt: "<",
		expr.CmpOpLte: "<=", expr.CmpOpGt: ">", expr.CmpOpGte: ">=",
	}
	if load == "iifname" {
		return fmt.Sprintf("%s %s %s", load, ops[e.Op], ifNameString(e.Data))
	}
	return fmt.Sprintf("%s %s 0x%x", load, ops[e.Op], e.Data)
}

// ifNameString renders compared interface-name bytes as nft does: a whole
// NUL-padded name quoted, a prefix quoted with a trailing `*`.
func ifNameString(b []byte) string {
	if len(b) == ifNameSize {
		if name, _, ok := bytes.Cut(b, []byte{0}); ok && bytes.Count(b[len(name):], []byte{0}) == len(b)-len(name) {
			return strconv.Quote(string(name))
		}
	}
	return strconv.Quote(string(b) + "*")
}

func statementName(fam nftables.TableFamily, e expr.Any) string {
	switch e := e.(type) {
	case *expr.Counter:
		return "counter"
	case *unknownExpr:
		return "expression " + e.name
	case *expr.Verdict:
		return verdictName(e)
	case *expr.Masq:
		s := "masquerade"
		if e.Random {
			s += " random"
		}
		if e.FullyRandom {
			s += " fully-random"
		}
		if e.Persistent {
			s += " persistent"
		}
		return s
	case *expr.Reject:
		if e.Type == rejectICMPUnreach && e.Code == icmpPortUnreach && fam == nftables.TableFamilyIPv4 {
			return "reject with icmp port-unreachable"
		}
		if e.Type == rejectICMPUnreach && e.Code == icmp6PortUnreach && fam == nftables.TableFamilyIPv6 {
			return "reject with icmpv6 port-unreachable"
		}
		return fmt.Sprintf("reject type %d code %d", e.Type, e.Code)
	}
	return fmt.Sprintf("%T", e)
}

func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict-%d", v.Kind)
}
