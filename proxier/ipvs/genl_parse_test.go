package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// kernelAddr is an address as the kernel sends it: a whole 16-byte
// union nf_inet_addr, IPv4 in its first four bytes.
func kernelAddr(a netip.Addr) []byte {
	b := make([]byte, 16)
	copy(b, a.AsSlice())
	return b
}

// genlMsg wraps one nested top-level attribute in a generic netlink header,
// marking the container NLA_F_NESTED as recent kernels do.
func genlMsg(cmd uint8, top uint16, in attrs) []byte {
	return append([]byte{cmd, 1, 0, 0}, attrs(nil).put(top|0x8000, in)...)
}

// kernelService encodes a service as ip_vs_genl_fill_service does, with the
// kernel-internal hashed flag (0x2) and statistics.
func kernelService(vs model.VirtualServer, fwmark uint32) []byte {
	in := attrs(nil).u16(ipvsSvcAttrAF, afOf(vs.Addr))
	if fwmark != 0 {
		in = in.u32(ipvsSvcAttrFWMark, fwmark)
	} else {
		in = in.u16(ipvsSvcAttrProtocol, uint16(vs.Proto)).put(ipvsSvcAttrAddr, kernelAddr(vs.Addr)).be16(ipvsSvcAttrPort, vs.Port)
	}
	flags := binary.NativeEndian.AppendUint32(nil, uint32(vs.Flags)|0x2)
	flags = binary.NativeEndian.AppendUint32(flags, 0xffffffff)
	in = in.str(ipvsSvcAttrSchedName, vs.Scheduler).put(ipvsSvcAttrFlags, flags).
		u32(ipvsSvcAttrTimeout, vs.Timeout).u32(ipvsSvcAttrNetmask, 0xffffffff).
		put(10|0x8000, attrs(nil).u32(1, 99).u32(2, 1000)) // IPVS_SVC_ATTR_STATS
	return genlMsg(ipvsCmdNewService, ipvsCmdAttrService, in)
}

// kernelDest encodes a destination as ip_vs_genl_fill_dest does; withAF
// false mimics kernels before 3.18, which send no address family.
func kernelDest(rs model.RealServer, st model.RealServerStats, withAF bool) []byte {
	in := attrs(nil).put(ipvsDestAttrAddr, kernelAddr(rs.Addr)).be16(ipvsDestAttrPort, rs.Port).
		u32(ipvsDestAttrFwdMethod, 0).u32(ipvsDestAttrWeight, uint32(rs.Weight)).
		put(13, []byte{0}).be16(14, 0).u16(15, 0). // tunnel type, port, flags
		u32(ipvsDestAttrUThresh, 0).u32(ipvsDestAttrLThresh, 0).
		u32(ipvsDestAttrActive, st.ActiveConns).u32(ipvsDestAttrInactive, st.InactiveConns).u32(9, 4)
	if withAF {
		in = in.u16(ipvsDestAttrAddrFamily, afOf(rs.Addr))
	}
	return genlMsg(ipvsCmdNewDest, ipvsCmdAttrDest, in)
}

func TestParseService(t *testing.T) {
	tests := []struct {
		name       string
		msg        []byte
		want       model.VirtualServer
		wantFWMark uint32
	}{
		{
			name: "IPv4 TCP rr, hashed bit dropped",
			msg:  kernelService(makeVS("198.18.0.10", 80), 0),
			want: makeVS("198.18.0.10", 80),
		},
		{
			name: "IPv6 SCTP mh with flags and persistence",
			msg:  kernelService(makeVS("fd00::10", 9, withProto(model.SCTP), withSched("mh", model.FlagSched1|model.FlagSched2), withPersistence(10800)), 0),
			want: makeVS("fd00::10", 9, withProto(model.SCTP), withSched("mh", model.FlagSched1|model.FlagSched2), withPersistence(10800)),
		},
		{
			name:       "firewall-mark service",
			msg:        kernelService(makeVS("198.18.0.10", 0), 5),
			wantFWMark: 5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fwmark, err := parseService(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if fwmark != tc.wantFWMark {
				t.Errorf("fwmark = %d, want %d", fwmark, tc.wantFWMark)
			}
			if fwmark == 0 {
				if diff := cmp.Diff(tc.want, got, cmpAddrs); diff != "" {
					t.Errorf("parseService mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestParseWhatWeEncode checks that a request's service attributes, read
// back by the dump parser, give the virtual server encoded.
func TestParseWhatWeEncode(t *testing.T) {
	vs := makeVS("fd00::10", 53, withProto(model.UDP), withSched("sh", model.FlagSched2), withPersistence(30))
	got, _, err := parseService(append([]byte{ipvsCmdNewService, 1, 0, 0}, serviceAttrs(vs, true)...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(vs, got, cmpAddrs); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestParseDest(t *testing.T) {
	st := model.RealServerStats{ActiveConns: 3, InactiveConns: 7}
	tests := []struct {
		name  string
		rs    model.RealServer
		svcAF uint16
		af    bool
	}{
		{name: "IPv4", rs: makeRS("198.18.1.1", 8080, 0), svcAF: afInet, af: true},
		{name: "IPv6", rs: makeRS("fd00::1:1", 53, 1), svcAF: afInet6, af: true},
		{name: "IPv4 from an old kernel without family", rs: makeRS("198.18.1.1", 80, 1), svcAF: afInet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, gotSt, err := parseDest(kernelDest(tc.rs, st, tc.af), tc.svcAF)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.rs, rs, cmpAddrs); diff != "" {
				t.Errorf("parseDest mismatch (-want +got):\n%s", diff)
			}
			if gotSt != st {
				t.Errorf("stats = %+v, want %+v", gotSt, st)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name  string
		parse func() error
	}{
		{"short genl header", func() error { _, _, err := parseService([]byte{1, 1}); return err }},
		{"no service attribute", func() error {
			_, _, err := parseService(genlMsg(ipvsCmdNewService, ipvsCmdAttrDest, nil))
			return err
		}},
		{"unknown family", func() error {
			in := attrs(nil).u16(ipvsSvcAttrAF, 99).put(ipvsSvcAttrAddr, make([]byte, 16))
			_, _, err := parseService(genlMsg(ipvsCmdNewService, ipvsCmdAttrService, in))
			return err
		}},
		{"short IPv6 address", func() error {
			in := attrs(nil).put(ipvsDestAttrAddr, []byte{1, 2, 3, 4}).u16(ipvsDestAttrAddrFamily, afInet6)
			_, _, err := parseDest(genlMsg(ipvsCmdNewDest, ipvsCmdAttrDest, in), afInet6)
			return err
		}},
		{"attribute overruns", func() error {
			_, _, err := parseDest(append([]byte{1, 1, 0, 0}, 200, 0, 2, 0), afInet)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.parse(); err == nil {
				t.Error("malformed message accepted")
			}
		})
	}
}

func TestSplitMessages(t *testing.T) {
	data := appendMessage(nil, 42, nlmFMulti|nlmFDumpIntr, 5, ipvsCmdNewService, 1, attrs(nil).u32(1, 1))
	done := binary.NativeEndian.AppendUint32(nil, nlmsg.HdrLen+4)
	done = binary.NativeEndian.AppendUint16(done, nlmsgDone)
	done = binary.NativeEndian.AppendUint16(done, nlmFMulti)
	done = binary.NativeEndian.AppendUint32(done, 5)
	done = binary.NativeEndian.AppendUint32(done, 0)
	done = binary.NativeEndian.AppendUint32(done, uint32(0xffffff90)) // -112: EHOSTDOWN, any errno
	msgs, err := nlmsg.Append(nil, append(data, done...))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Type != 42 || msgs[0].Flags&nlmFDumpIntr == 0 || msgs[1].Type != nlmsgDone {
		t.Fatalf("messages = %+v", msgs)
	}
	if got := nlmsg.ErrorCode(msgs[1]); got != 112 {
		t.Errorf("nlmsg.ErrorCode(DONE) = %d, want 112", got)
	}
	if _, err := nlmsg.Append(nil, data[:len(data)-2]); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("truncated buffer: err = %v", err)
	}
}

// BenchmarkParseDest: one destination of a dump (a repair cycle at 10,000
// services parses 100,000 of them).
func BenchmarkParseDest(b *testing.B) {
	msg := kernelDest(model.RealServer{RSKey: model.RSKey{Addr: netip.MustParseAddr("198.18.10.1"), Port: 8080}, Weight: 1},
		model.RealServerStats{ActiveConns: 3}, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseDest(msg, afInet); err != nil {
			b.Fatal(err)
		}
	}
}
