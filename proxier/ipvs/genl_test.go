package ipvs

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// describe prints one encoded request: header fields, then each attribute
// as type=hex, nested attributes of the service (1) and destination (2) in
// braces. Raw hex keeps byte order visible (the host is little-endian).
func describe(t *testing.T, msg []byte) string {
	t.Helper()
	if got := int(binary.NativeEndian.Uint32(msg)); got != len(msg) {
		t.Fatalf("nlmsg_len %d, message is %d bytes", got, len(msg))
	}
	h := fmt.Sprintf("type=%d flags=%#x seq=%d cmd=%d ver=%d",
		binary.NativeEndian.Uint16(msg[4:]), binary.NativeEndian.Uint16(msg[6:]),
		binary.NativeEndian.Uint32(msg[8:]), msg[16], msg[17])
	return h + " " + describeAttrs(t, msg[nlmsg.HdrLen+genlHdrLen:], true)
}

func describeAttrs(t *testing.T, b []byte, top bool) string {
	var parts []string
	for len(b) > 0 {
		l, typ := int(binary.NativeEndian.Uint16(b)), binary.NativeEndian.Uint16(b[2:])
		if l < 4 || nlmsg.Align(l) > len(b) {
			t.Fatalf("attribute length %d in %d bytes", l, len(b))
		}
		if top {
			parts = append(parts, fmt.Sprintf("%d{%s}", typ, describeAttrs(t, b[4:l], false)))
		} else {
			parts = append(parts, fmt.Sprintf("%d=%s", typ, hex.EncodeToString(b[4:l])))
		}
		b = b[nlmsg.Align(l):]
	}
	return strings.Join(parts, " ")
}

func TestEncodeOp(t *testing.T) {
	v6 := makeVS("fd00::10", 53, withProto(model.UDP), withSched("mh", model.FlagSched1|model.FlagSched2), withPersistence(10800))
	v4 := makeVS("198.18.0.10", 80)
	tests := []struct {
		name  string
		op    model.Op
		flags uint16
		want  string
	}{
		{
			name:  "add IPv6 service with every field",
			op:    model.Op{Kind: model.OpAddVirtualServer, VS: v6},
			flags: nlmFAck,
			want: "type=42 flags=0x5 seq=7 cmd=1 ver=1 1{1=0a00 2=1100 3=fd000000000000000000000000000010 4=0035 " +
				"6=6d6800 7=19000000ffffffff 8=302a0000 9=80000000}",
		},
		{
			name: "update IPv4 service",
			op:   model.Op{Kind: model.OpUpdateVirtualServer, VS: v4},
			want: "type=42 flags=0x1 seq=7 cmd=2 ver=1 1{1=0200 2=0600 3=c612000a 4=0050 6=727200 7=00000000ffffffff 8=00000000 9=ffffffff}",
		},
		{
			name: "delete service sends the key only",
			op:   model.Op{Kind: model.OpDeleteVirtualServer, VS: v4},
			want: "type=42 flags=0x1 seq=7 cmd=3 ver=1 1{1=0200 2=0600 3=c612000a 4=0050}",
		},
		{
			name: "add real server: masquerade, weight, no thresholds",
			op:   model.Op{Kind: model.OpAddRealServer, VS: v4, RS: makeRS("198.18.1.1", 8080)},
			want: "type=42 flags=0x1 seq=7 cmd=5 ver=1 1{1=0200 2=0600 3=c612000a 4=0050} " +
				"2{1=c6120101 2=1f90 3=00000000 4=01000000 5=00000000 6=00000000}",
		},
		{
			name: "update real server to weight 0",
			op:   model.Op{Kind: model.OpUpdateRealServer, VS: v6, RS: makeRS("fd00::1:1", 5353, 0)},
			want: "type=42 flags=0x1 seq=7 cmd=6 ver=1 1{1=0a00 2=1100 3=fd000000000000000000000000000010 4=0035} " +
				"2{1=fd000000000000000000000000010001 2=14e9 3=00000000 4=00000000 5=00000000 6=00000000}",
		},
		{
			name: "delete real server sends its key only",
			op:   model.Op{Kind: model.OpDeleteRealServer, VS: v4, RS: makeRS("198.18.1.1", 8080)},
			want: "type=42 flags=0x1 seq=7 cmd=7 ver=1 1{1=0200 2=0600 3=c612000a 4=0050} 2{1=c6120101 2=1f90}",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateOp(tc.op); err != nil {
				t.Fatal(err)
			}
			msg := encodeOp(nil, 42, tc.flags, 7, tc.op)
			if diff := cmp.Diff(tc.want, describe(t, msg)); diff != "" {
				t.Errorf("encoding mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeConcatenates(t *testing.T) {
	ops := []model.Op{
		{Kind: model.OpAddVirtualServer, VS: makeVS("198.18.0.10", 80)},
		{Kind: model.OpAddRealServer, VS: makeVS("198.18.0.10", 80), RS: makeRS("198.18.1.1", 80)},
	}
	var buf []byte
	for i, op := range ops {
		buf = encodeOp(buf, 42, 0, uint32(i+1), op)
	}
	var seqs []uint32
	for len(buf) > 0 {
		l := int(binary.NativeEndian.Uint32(buf))
		seqs = append(seqs, binary.NativeEndian.Uint32(buf[8:]))
		buf = buf[l:]
	}
	if diff := cmp.Diff([]uint32{1, 2}, seqs); diff != "" {
		t.Errorf("sequence numbers (-want +got):\n%s", diff)
	}
}

func TestValidateOp(t *testing.T) {
	if err := validateOp(model.Op{Kind: model.OpBindAddress}); err == nil {
		t.Error("bind-address accepted as an IPVS operation")
	}
	if err := validateOp(model.Op{Kind: model.OpAddRealServer, VS: makeVS("198.18.0.1", 80), RS: makeRS("fd00::1", 80)}); err == nil {
		t.Error("mixed families accepted")
	}
}

// nlError builds an NLMSG_ERROR answer to request seq with errno (0: ack).
func nlError(seq uint32, errno int32) []byte {
	b := binary.NativeEndian.AppendUint32(nil, nlmsg.HdrLen+4+nlmsg.HdrLen)
	b = binary.NativeEndian.AppendUint16(b, nlmsgError)
	b = binary.NativeEndian.AppendUint16(b, 0x100) // NLM_F_CAPPED
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 1234)
	b = binary.NativeEndian.AppendUint32(b, uint32(-errno))
	return append(b, make([]byte, nlmsg.HdrLen)...) // the echoed request header
}

func TestParseAcks(t *testing.T) {
	other := appendMessage(nil, 42, 0, 9, 1, 1, attrs(nil).u32(1, 5)) // not an ack: skipped
	buf := append(append(append(nlError(3, 17), other...), nlError(4, 0)...), nlError(5, 3)...)
	got, err := parseAcks(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []ack{{seq: 3, errno: 17}, {seq: 4, errno: 0}, {seq: 5, errno: 3}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ack{})); diff != "" {
		t.Errorf("parseAcks mismatch (-want +got):\n%s", diff)
	}
	if _, err := parseAcks(nlError(3, 0)[:20]); err == nil {
		t.Error("truncated buffer accepted")
	}
}

func TestAttrIndex(t *testing.T) {
	b := attrs(nil).str(ctrlAttrName, "IPVS").u16(ctrlAttrFmID, 0x1c).u32(3, 1)
	b = b.put(4|0x8000, attrs(nil).u16(1, 7)) // NLA_F_NESTED is masked off
	b = b.u32(40, 1)                          // beyond the slots: skipped
	a, err := attrIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := attrU16(&a, ctrlAttrFmID); !ok || got != 0x1c {
		t.Errorf("family id = %#x, %v; want 0x1c", got, ok)
	}
	if _, ok := attrU32(&a, 9); ok {
		t.Error("a missing attribute was found")
	}
	if a.get(40) != nil || a.get(3) == nil {
		t.Error("attribute 40 kept or 3 lost")
	}
	if a.get(4) == nil {
		t.Error("nested attribute not found by its type")
	}
	if _, err := attrIndex([]byte{8, 0, 1, 0, 0}); err == nil {
		t.Error("attribute longer than its buffer accepted")
	}
}
