package kubeproxy

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var errCaptured = errors.New("captured")

// ruleMessage marshals a rule with google/nftables, as iptables-nft would
// have written it, and adds the handle the kernel reports in a dump.
func ruleMessage(t *testing.T, chain string, handle uint64, exprs ...expr.Any) []byte {
	t.Helper()
	var got []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		got = append(got, req...)
		return nil, errCaptured
	}))
	if err != nil {
		t.Fatal(err)
	}
	tbl := &nftables.Table{Name: "nat", Family: nftables.TableFamilyIPv4}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: chain, Table: tbl}, Exprs: exprs})
	if err := c.Flush(); err != nil && !errors.Is(err, errCaptured) {
		t.Fatal(err)
	}
	for _, m := range got {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE) {
			h := make([]byte, 8)
			binary.BigEndian.PutUint64(h, handle)
			attr, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_RULE_HANDLE, Data: h}})
			if err != nil {
				t.Fatal(err)
			}
			return append(m.Data, attr...)
		}
	}
	t.Fatal("no rule message captured")
	return nil
}

func TestDecodeJumps(t *testing.T) {
	comment := &expr.Match{Name: "comment", Info: &xt.Unknown{'k', 0}}
	for _, tc := range []struct {
		name  string
		chain string
		exprs []expr.Any
		want  []jump
	}{{
		name:  "iptables-nft jump with a comment match and a counter",
		chain: "PREROUTING",
		exprs: []expr.Any{comment, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictJump, Chain: "KUBE-SERVICES"}},
		want:  []jump{{chain: "PREROUTING", target: "KUBE-SERVICES", handle: 7}},
	}, {
		name:  "goto",
		chain: "KUBE-SERVICES",
		exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: "KUBE-NODE-PORT"}},
		want:  []jump{{chain: "KUBE-SERVICES", target: "KUBE-NODE-PORT", handle: 7}},
	}, {
		name:  "accept and an xt target are no jumps",
		chain: "KUBE-POSTROUTING",
		exprs: []expr.Any{&expr.Target{Name: "MASQUERADE", Info: &xt.Unknown{}}, &expr.Verdict{Kind: expr.VerdictAccept}},
	}, {
		name:  "immediate data to a general register",
		chain: "OUTPUT",
		exprs: []expr.Any{&expr.Immediate{Register: 1, Data: []byte("KUBE-SERVICES\x00")}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeJumps(ruleMessage(t, tc.chain, 7, tc.exprs...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(jump{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("jumps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeJumpsRejectsGarbage(t *testing.T) {
	if _, err := decodeJumps([]byte{2, 0}); err == nil {
		t.Error("short message decoded")
	}
	if _, err := decodeJumps([]byte{2, 0, 0, 0, 0xff, 0xff, 1, 0}); err == nil {
		t.Error("bad attribute length decoded")
	}
}
