package netfilter

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpRules lists a chain's rules. google/nftables v0.3.0's GetRules cannot
// be used: it decodes the ct expression's NFTA_CT_DIRECTION as a u32 while
// the kernel sends a u8, and fails on every rule matching `ct original`. So
// the dump is requested here and each expression decoded with the library's
// exported expr.Unmarshal, except ct, decoded by decodeCt.
func dumpRules(netNS int, tbl *nftables.Table, chain string) ([]Rule, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netNS})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(tbl.Name + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append([]byte{byte(tbl.Family), unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, m := range msgs {
		r, err := decodeRule(byte(tbl.Family), m.Data)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func decodeRule(fam byte, data []byte) (Rule, error) {
	var r Rule
	if len(data) < 4 {
		return r, fmt.Errorf("short rule message")
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return r, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					var e expr.Any
					list.Nested(func(one *netlink.AttributeDecoder) error {
						e, err = decodeExpr(fam, one)
						return err
					})
					r.Exprs = append(r.Exprs, e)
				}
				return nil
			})
		case unix.NFTA_RULE_USERDATA:
			r.Comment, _ = userdata.GetString(ad.Bytes(), userdata.TypeComment)
		}
	}
	return r, ad.Err()
}

// decodeExpr decodes one NFTA_LIST_ELEM: a name and the expression's data.
func decodeExpr(fam byte, ad *netlink.AttributeDecoder) (expr.Any, error) {
	var name string
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ad.String()
		case unix.NFTA_EXPR_DATA:
			data = ad.Bytes()
		}
	}
	if name == "ct" {
		return decodeCt(data)
	}
	e := newExpr(name)
	if e == nil {
		return &unknownExpr{name: name}, nil
	}
	if err := expr.Unmarshal(fam, data, e); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	// A verdict is an immediate writing the verdict register.
	if imm, ok := e.(*expr.Immediate); ok && imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
		v := &expr.Verdict{}
		if err := expr.Unmarshal(fam, data, v); err != nil {
			return nil, fmt.Errorf("decoding verdict: %w", err)
		}
		return v, nil
	}
	return e, nil
}

func newExpr(name string) expr.Any {
	switch name {
	case "payload":
		return &expr.Payload{}
	case "meta":
		return &expr.Meta{}
	case "cmp":
		return &expr.Cmp{}
	case "bitwise":
		return &expr.Bitwise{}
	case "lookup":
		return &expr.Lookup{}
	case "counter":
		return &expr.Counter{}
	case "immediate":
		return &expr.Immediate{}
	case "masq":
		return &expr.Masq{}
	case "reject":
		return &expr.Reject{}
	case "nat":
		return &expr.NAT{}
	case "fib":
		return &expr.Fib{}
	}
	return nil
}

// decodeCt decodes the ct expression, whose direction is a u8.
func decodeCt(data []byte) (*expr.Ct, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	e := &expr.Ct{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_CT_KEY:
			e.Key = expr.CtKey(ad.Uint32())
		case unix.NFTA_CT_DREG:
			e.Register = ad.Uint32()
		case unix.NFTA_CT_SREG:
			e.Register, e.SourceRegister = ad.Uint32(), true
		case unix.NFTA_CT_DIRECTION:
			if b := ad.Bytes(); len(b) > 0 {
				e.Direction = uint32(b[0])
			}
		}
	}
	return e, ad.Err()
}

// unknownExpr stands for an expression this package never writes, so that
// it shows (by name) in a drift diff instead of failing the read.
type unknownExpr struct {
	expr.Counter // satisfies expr.Any's unexported methods
	name         string
}
