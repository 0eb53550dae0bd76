package kubeproxy

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpJumps lists the rules of an nf_tables table that jump or go to a
// chain. The dump is requested and decoded here rather than with
// google/nftables' GetRules: iptables-nft rules hold xtables-compat
// (match, target) and other expressions that need not decode, and only
// the verdict matters, so decodeJumps reads nothing else.
func dumpJumps(netNS int, fam nftables.TableFamily, tbl string) ([]jump, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netNS})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(tbl + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append([]byte{byte(fam), unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	var msgs []netlink.Message
	for attempt := 1; ; attempt++ {
		if msgs, err = c.Execute(req); err != nil {
			return nil, err
		}
		if !interrupted(msgs) {
			break
		}
		if attempt == 4 {
			return nil, errors.New("the rule dump was interrupted by concurrent changes 4 times")
		}
	}
	var out []jump
	for _, m := range msgs {
		js, err := decodeJumps(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	return out, nil
}

// interrupted reports whether a dump was inconsistent because the ruleset
// changed during it (NLM_F_DUMP_INTR): it is then requested again.
func interrupted(msgs []netlink.Message) bool {
	for _, m := range msgs {
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			return true
		}
	}
	return false
}

// decodeJumps decodes one NFT_MSG_NEWRULE message (nfgenmsg and
// attributes) into the jumps its verdicts make, usually none or one.
func decodeJumps(data []byte) ([]jump, error) {
	if len(data) < 4 {
		return nil, errors.New("short rule message")
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	var chain string
	var handle uint64
	var targets []string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_CHAIN:
			chain = ad.String()
		case unix.NFTA_RULE_HANDLE:
			handle = ad.Uint64()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					list.Nested(func(e *netlink.AttributeDecoder) error {
						t, err := decodeVerdictTarget(e)
						if t != "" {
							targets = append(targets, t)
						}
						return err
					})
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("decoding a rule: %w", err)
	}
	out := make([]jump, 0, len(targets))
	for _, t := range targets {
		out = append(out, jump{chain: chain, target: t, handle: handle})
	}
	return out, nil
}

// decodeVerdictTarget returns the chain an expression jumps or goes to: an
// immediate expression writing a jump or goto verdict to the verdict
// register. Any other expression gives "".
func decodeVerdictTarget(e *netlink.AttributeDecoder) (string, error) {
	var name string
	var data []byte
	for e.Next() {
		switch e.Type() {
		case unix.NFTA_EXPR_NAME:
			name = e.String()
		case unix.NFTA_EXPR_DATA:
			data = e.Bytes()
		}
	}
	if name != "immediate" || data == nil {
		return "", nil
	}
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return "", err
	}
	ad.ByteOrder = binary.BigEndian
	dreg := ^uint32(0)
	var target string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_IMMEDIATE_DREG:
			dreg = ad.Uint32()
		case unix.NFTA_IMMEDIATE_DATA:
			ad.Nested(func(d *netlink.AttributeDecoder) error {
				for d.Next() {
					if d.Type() == unix.NFTA_DATA_VERDICT {
						d.Nested(func(v *netlink.AttributeDecoder) error {
							target = decodeVerdict(v)
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil || dreg != unix.NFT_REG_VERDICT {
		return "", err
	}
	return target, nil
}

// decodeVerdict returns the chain of a jump or goto verdict, else "".
func decodeVerdict(v *netlink.AttributeDecoder) string {
	var code int32
	var chain string
	for v.Next() {
		switch v.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = int32(v.Uint32())
		case unix.NFTA_VERDICT_CHAIN:
			chain = v.String()
		}
	}
	if code == unix.NFT_JUMP || code == unix.NFT_GOTO {
		return chain
	}
	return ""
}
