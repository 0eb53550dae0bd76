package netfilter

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestMarshalledRulesDecodeAsTranslated checks the write path without a
// kernel: the batch's NEWRULE messages, decoded as a rule dump is, render
// exactly as the program, and the ct expressions carry the family address
// keys with a direction.
func TestMarshalledRulesDecodeAsTranslated(t *testing.T) {
	p := Translate(flowIntent(), DefaultTableName)
	batch, err := marshal(func(c *nftables.Conn) error {
		for _, tbl := range p.Tables {
			if err := addTable(c, tbl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	ctKeys := map[expr.CtKey]int{}
	for _, m := range batch {
		if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE) {
			continue
		}
		fam := nftables.TableFamily(m.Data[0])
		r, err := decodeRule(byte(fam), m.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Exprs {
			if ct, ok := e.(*expr.Ct); ok && ct.Key != expr.CtKeySTATE {
				ctKeys[ct.Key]++
				if !hasCtDirection(m.Data) {
					t.Errorf("a ct %d expression has no direction", ct.Key)
				}
			}
		}
		got[familyName(fam)] = append(got[familyName(fam)], RenderExprs(fam, r.Exprs)+" comment "+r.Comment)
	}
	want := map[string][]string{}
	for _, tbl := range p.Tables {
		for _, c := range tbl.Chains {
			for _, r := range c.Rules {
				want[familyName(tbl.Family)] = append(want[familyName(tbl.Family)], RenderExprs(tbl.Family, r.Exprs)+" comment "+r.Comment)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded rules differ from the program (-want +got):\n%s", diff)
	}
	wantKeys := map[expr.CtKey]int{ctKeySrcIP: 2, ctKeyDstIP: 3, ctKeySrcIP6: 2, ctKeyDstIP6: 3}
	for k, n := range wantKeys {
		if ctKeys[k] != n {
			t.Errorf("ct key %d appears %d times, want %d (all: %v)", k, ctKeys[k], n, ctKeys)
		}
	}
}

// hasCtDirection reports whether every ct expression in the message that
// loads an address or port has a NFTA_CT_DIRECTION attribute.
func hasCtDirection(data []byte) bool {
	for _, exprs := range attrs(data[4:], unix.NFTA_RULE_EXPRESSIONS) {
		for _, elem := range attrs(exprs, unix.NFTA_LIST_ELEM) {
			if name := attrs(elem, unix.NFTA_EXPR_NAME); len(name) != 1 || string(name[0]) != "ct\x00" {
				continue
			}
			for _, d := range attrs(elem, unix.NFTA_EXPR_DATA) {
				if len(attrs(d, unix.NFTA_CT_KEY)) == 1 && len(attrs(d, unix.NFTA_CT_DREG)) == 1 &&
					len(attrs(d, unix.NFTA_CT_DIRECTION)) == 0 && attrs(d, unix.NFTA_CT_KEY)[0][3] != byte(expr.CtKeySTATE) {
					return false
				}
			}
		}
	}
	return true
}

// TestBatchChunksElements checks that a large set is split into element
// messages that each fit a netlink attribute.
func TestBatchChunksElements(t *testing.T) {
	p := Translate(manyServices(20000), DefaultTableName)
	batch, err := marshal(func(c *nftables.Conn) error { return addTable(c, p.Tables[0]) })
	if err != nil {
		t.Fatal(err)
	}
	elems := 0
	for _, m := range batch {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSETELEM) {
			elems++
			if len(m.Data) > 64<<10 {
				t.Errorf("an element message has %d bytes, more than a netlink attribute holds", len(m.Data))
			}
		}
	}
	if elems < 10 {
		t.Errorf("%d element messages for 20000 services, want them chunked", elems)
	}
	if size := batchSize(p); size < totalBytes(batch) {
		t.Errorf("batchSize estimates %d bytes, the batch has %d", size, totalBytes(batch))
	}
}

func totalBytes(batch []netlink.Message) int {
	n := 0
	for _, m := range batch {
		n += 16 + len(m.Data)
	}
	return n
}

func TestIntervalElementsRoundTrip(t *testing.T) {
	s := Set{Name: "s", Fields: []Field{FieldIPv4}, Interval: true}
	for _, r := range prefixRanges(makeIntent(withLocalCIDRs("10.0.0.0/8", "192.168.0.0/16", "255.255.255.0/24")).LocalCIDRs, families[0]) {
		s.Elements = append(s.Elements, Element{Key: r.from, KeyEnd: r.to})
	}
	kernel := kernelElements(&s)
	if len(kernel) != 5 { // two closed ranges and one open at the top
		t.Fatalf("%d kernel elements, want 5: %+v", len(kernel), kernel)
	}
	var d setDump
	if err := d.decode(dumpMessage(t, kernel)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.Elements, rangesFromIntervals(d.elems)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// dumpMessage encodes elements as the kernel lists them in a set dump's
// NFT_MSG_NEWSETELEM message (after its nfgenmsg header).
func dumpMessage(t *testing.T, elems []nftables.SetElement) []byte {
	t.Helper()
	value := func(b []byte) []byte {
		v, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: b}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var list []netlink.Attribute
	for _, e := range elems {
		one := []netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: value(e.Key)}}
		if len(e.KeyEnd) > 0 {
			one = append(one, netlink.Attribute{Type: unix.NLA_F_NESTED | nftables.NFTA_SET_ELEM_KEY_END, Data: value(e.KeyEnd)})
		}
		if e.IntervalEnd {
			one = append(one, netlink.Attribute{Type: unix.NFTA_SET_ELEM_FLAGS, Data: binary.BigEndian.AppendUint32(nil, unix.NFT_SET_ELEM_INTERVAL_END)})
		}
		b, err := netlink.MarshalAttributes(one)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b})
	}
	l, err := netlink.MarshalAttributes(list)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte("t\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte("s\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_LIST_ELEMENTS, Data: l},
	})
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0}, msg...)
}

// TestSetDumpReceive reads crafted dump datagrams through a socket pair:
// the elements of the dump's own messages, the end, a kernel error, and a
// dump the kernel marks interrupted, which is read whole (see receive).
func TestSetDumpReceive(t *testing.T) {
	elems := dumpMessage(t, []nftables.SetElement{{Key: []byte{198, 18, 0, 1}}, {Key: []byte{198, 18, 0, 2}}})
	negated := -int32(unix.ENOENT)
	errno := binary.NativeEndian.AppendUint32(nil, uint32(negated))
	tests := []struct {
		name      string
		datagrams [][]byte
		wantKeys  int
		wantErr   error
	}{
		{"elements then done", [][]byte{
			append(nlMessage(0x0a06, 0, 7, elems), nlMessage(0x0a06, 0, 8, elems)...), // another sequence is ignored
			nlMessage(unix.NLMSG_DONE, 0, 7, make([]byte, 4)),
		}, 2, nil},
		{"kernel error", [][]byte{nlMessage(unix.NLMSG_ERROR, 0, 7, errno)}, 0, unix.ENOENT},
		{"interrupted by a commit elsewhere", [][]byte{
			nlMessage(0x0a06, unix.NLM_F_DUMP_INTR, 7, elems),
			nlMessage(unix.NLMSG_DONE, unix.NLM_F_DUMP_INTR, 7, make([]byte, 4)),
		}, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			writer, reader := os.NewFile(uintptr(fds[0]), "w"), os.NewFile(uintptr(fds[1]), "r")
			defer writer.Close()
			defer reader.Close()
			for _, dg := range tc.datagrams {
				if _, err := writer.Write(dg); err != nil {
					t.Fatal(err)
				}
			}
			if err := reader.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err) // a receive waiting for more than was sent fails instead of hanging
			}
			rc, err := reader.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			d := setDump{seq: 7, buf: make([]byte, dumpBuffer)}
			for err == nil && !d.done {
				err = d.receive(rc)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("receive: %v, want %v", err, tc.wantErr)
			}
			if len(d.elems) != tc.wantKeys {
				t.Errorf("%d elements, want %d: %+v", len(d.elems), tc.wantKeys, d.elems)
			}
		})
	}
}

// nlMessage frames payload as one netlink message.
func nlMessage(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(16+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	return append(b, payload...)
}
