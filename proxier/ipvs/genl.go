package ipvs

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The generic netlink encoding of IPVS requests, for the batched write path.
// Layouts and numbers are the kernel's ABI: include/uapi/linux/netlink.h,
// genetlink.h and ip_vs.h. Values are in host byte order except ports, which
// are in network byte order. This file is pure (no sockets): the batch writer
// sends what it builds.

// Netlink header values (include/uapi/linux/netlink.h).
const (
	genlHdrLen   = 4
	nlmFRequest  = 0x1
	nlmFAck      = 0x4
	nlmsgError   = 0x2
	nlmsgDone    = 0x3
	genlIDCtrl   = 0x10
	ctrlCmdGetFm = 3 // CTRL_CMD_GETFAMILY
	ctrlAttrFmID = 1 // CTRL_ATTR_FAMILY_ID
	ctrlAttrName = 2 // CTRL_ATTR_FAMILY_NAME
	ipvsGenlName = "IPVS"
	ipvsGenlVer  = 1 // IPVS_GENL_VERSION
)

// IPVS commands and attributes (include/uapi/linux/ip_vs.h).
const (
	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7

	ipvsCmdAttrService = 1
	ipvsCmdAttrDest    = 2

	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrSchedName = 6
	ipvsSvcAttrFlags     = 7
	ipvsSvcAttrTimeout   = 8
	ipvsSvcAttrNetmask   = 9

	ipvsDestAttrAddr      = 1
	ipvsDestAttrPort      = 2
	ipvsDestAttrFwdMethod = 3
	ipvsDestAttrWeight    = 4
	ipvsDestAttrUThresh   = 5
	ipvsDestAttrLThresh   = 6

	ipvsConnFMasq = 0 // IP_VS_CONN_F_MASQ
)

// Netmasks the kernel expects for a non-firewall-mark service: a /32 mask
// for IPv4, a prefix length for IPv6 (the kernel rejects 0 and values over
// 128 for IPv6).
const (
	netmaskIPv4 uint32 = 0xffffffff
	netmaskIPv6 uint32 = 128
)

// Address families as the kernel numbers them.
const (
	afInet  = 2
	afInet6 = 10
)

// attrs builds netlink attributes into a byte slice, 4-byte aligned.
type attrs []byte

// put appends one attribute.
func (a attrs) put(typ uint16, val []byte) attrs {
	l := 4 + len(val)
	a = binary.NativeEndian.AppendUint16(a, uint16(l))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, val...)
	return append(a, make([]byte, nlmsg.Align(l)-l)...)
}

func (a attrs) u16(typ uint16, v uint16) attrs {
	return a.put(typ, binary.NativeEndian.AppendUint16(nil, v))
}

func (a attrs) u32(typ uint16, v uint32) attrs {
	return a.put(typ, binary.NativeEndian.AppendUint32(nil, v))
}

func (a attrs) be16(typ uint16, v uint16) attrs {
	return a.put(typ, binary.BigEndian.AppendUint16(nil, v))
}

func (a attrs) str(typ uint16, s string) attrs { return a.put(typ, append([]byte(s), 0)) }

func afOf(a netip.Addr) uint16 {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

// serviceAttrs encodes IPVS_CMD_ATTR_SERVICE: the key, plus the scheduler,
// flags (with a full mask, as moby/ipvs sends them), timeout and netmask
// when full is set (the kernel requires them to add or edit).
func serviceAttrs(vs model.VirtualServer, full bool) attrs {
	var in attrs
	in = in.u16(ipvsSvcAttrAF, afOf(vs.Addr))
	in = in.u16(ipvsSvcAttrProtocol, uint16(vs.Proto))
	in = in.put(ipvsSvcAttrAddr, vs.Addr.AsSlice())
	in = in.be16(ipvsSvcAttrPort, vs.Port)
	if full {
		netmask := netmaskIPv4
		if vs.Addr.Is6() {
			netmask = netmaskIPv6
		}
		flags := binary.NativeEndian.AppendUint32(nil, uint32(vs.Flags))
		flags = binary.NativeEndian.AppendUint32(flags, 0xffffffff)
		in = in.str(ipvsSvcAttrSchedName, vs.Scheduler)
		in = in.put(ipvsSvcAttrFlags, flags)
		in = in.u32(ipvsSvcAttrTimeout, vs.Timeout)
		in = in.u32(ipvsSvcAttrNetmask, netmask)
	}
	return attrs(nil).put(ipvsCmdAttrService, in)
}

// destAttrs encodes IPVS_CMD_ATTR_DEST: the key, plus masquerading, the
// weight and no thresholds when full is set.
func destAttrs(rs model.RealServer, full bool) attrs {
	var in attrs
	in = in.put(ipvsDestAttrAddr, rs.Addr.AsSlice())
	in = in.be16(ipvsDestAttrPort, rs.Port)
	if full {
		in = in.u32(ipvsDestAttrFwdMethod, ipvsConnFMasq)
		in = in.u32(ipvsDestAttrWeight, uint32(rs.Weight))
		in = in.u32(ipvsDestAttrUThresh, 0)
		in = in.u32(ipvsDestAttrLThresh, 0)
	}
	return attrs(nil).put(ipvsCmdAttrDest, in)
}

// appendMessage appends one generic netlink request to buf.
func appendMessage(buf []byte, family uint16, flags uint16, seq uint32, cmd, version uint8, payload attrs) []byte {
	l := nlmsg.HdrLen + genlHdrLen + len(payload)
	buf = binary.NativeEndian.AppendUint32(buf, uint32(l))
	buf = binary.NativeEndian.AppendUint16(buf, family)
	buf = binary.NativeEndian.AppendUint16(buf, nlmFRequest|flags)
	buf = binary.NativeEndian.AppendUint32(buf, seq)
	buf = binary.NativeEndian.AppendUint32(buf, 0) // port id: the kernel fills it
	buf = append(buf, cmd, version, 0, 0)
	return append(buf, payload...)
}

// opCall is the Interface call an IPVS plan operation performs.
func opCall(k model.OpKind) (Call, bool) {
	switch k {
	case model.OpAddVirtualServer:
		return CallAddVirtualServer, true
	case model.OpUpdateVirtualServer:
		return CallUpdateVirtualServer, true
	case model.OpDeleteVirtualServer:
		return CallDeleteVirtualServer, true
	case model.OpAddRealServer:
		return CallAddRealServer, true
	case model.OpUpdateRealServer:
		return CallUpdateRealServer, true
	case model.OpDeleteRealServer:
		return CallDeleteRealServer, true
	}
	return "", false
}

// validateOp checks an operation as the matching single call would.
func validateOp(op model.Op) error {
	switch op.Kind {
	case model.OpAddVirtualServer, model.OpUpdateVirtualServer:
		return validateVirtualServer(op.VS)
	case model.OpDeleteVirtualServer:
		return validateKey(op.VS.VSKey)
	case model.OpAddRealServer, model.OpUpdateRealServer:
		return validateWeight(op.VS.VSKey, op.RS)
	case model.OpDeleteRealServer:
		return validateRealServer(op.VS.VSKey, op.RS.RSKey)
	}
	return fmt.Errorf("operation %s is not an IPVS operation: %w", op.Kind, ErrInvalid)
}

// encodeOp appends the request of a valid IPVS operation to buf.
func encodeOp(buf []byte, family uint16, flags uint16, seq uint32, op model.Op) []byte {
	var cmd uint8
	var payload attrs
	switch op.Kind {
	case model.OpAddVirtualServer, model.OpUpdateVirtualServer:
		cmd = ipvsCmdNewService
		if op.Kind == model.OpUpdateVirtualServer {
			cmd = ipvsCmdSetService
		}
		payload = serviceAttrs(op.VS, true)
	case model.OpDeleteVirtualServer:
		cmd, payload = ipvsCmdDelService, serviceAttrs(op.VS, false)
	case model.OpAddRealServer, model.OpUpdateRealServer:
		cmd = ipvsCmdNewDest
		if op.Kind == model.OpUpdateRealServer {
			cmd = ipvsCmdSetDest
		}
		payload = append(serviceAttrs(op.VS, false), destAttrs(op.RS, true)...)
	case model.OpDeleteRealServer:
		cmd = ipvsCmdDelDest
		payload = append(serviceAttrs(op.VS, false), destAttrs(op.RS, false)...)
	}
	return appendMessage(buf, family, flags, seq, cmd, ipvsGenlVer, payload)
}
