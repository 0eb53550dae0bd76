package ipvs

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Parsing of the kernel's generic netlink answers: acknowledgements of
// writes and the messages of service and destination dumps. Pure, like
// genl.go.

// Dump commands, flags and the attributes only dumps carry
// (include/uapi/linux/ip_vs.h, netlink.h).
const (
	ipvsCmdGetService = 4
	ipvsCmdGetDest    = 8

	nlmFDump     = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	nlmFMulti    = 0x2
	nlmFDumpIntr = 0x10

	ipvsSvcAttrFWMark      = 5
	ipvsDestAttrActive     = 7
	ipvsDestAttrInactive   = 8
	ipvsDestAttrAddrFamily = 11

	nlaTypeMask = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// ack is the kernel's answer to one request: its sequence number and errno
// (0 for success).
type ack struct {
	seq   uint32
	errno int32
}

// parseAcks reads the NLMSG_ERROR messages of a receive buffer. Other
// message types are skipped.
func parseAcks(b []byte) ([]ack, error) {
	msgs, err := nlmsg.Append(nil, b)
	var out []ack
	for _, m := range msgs {
		if m.Type != nlmsgError {
			continue
		}
		if len(m.Payload) < 4 {
			return out, fmt.Errorf("short netlink error message (%d bytes)", len(m.Payload))
		}
		out = append(out, ack{seq: m.Seq, errno: nlmsg.ErrorCode(m)})
	}
	return out, err
}

// attrSlots bounds the attribute types attrIndex keeps: IPVS and the
// generic netlink controller use types below it; later ones are skipped.
const attrSlots = 32

// attrTable holds attributes by type; a missing one is nil. A dump of
// 100,000 destinations parses 200,000 attribute sets: an array on the stack
// instead of a map per set keeps that from allocating.
type attrTable [attrSlots][]byte

// attrIndex indexes the attributes of b by type (the last one wins).
func attrIndex(b []byte) (attrTable, error) {
	var out attrTable
	err := out.index(b)
	return out, err
}

// index fills a, which must be empty, with the attributes of b.
func (a *attrTable) index(b []byte) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return fmt.Errorf("netlink attribute of length %d in %d bytes", l, len(b))
		}
		if typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask; typ < attrSlots {
			a[typ] = b[4:l:l]
		}
		b = b[min(nlmsg.Align(l), len(b)):]
	}
	return nil
}

// nested fills out, which must be empty, with the attributes nested in the
// top-level attribute typ of a generic netlink payload (after the genl
// header). Tables are filled in place: returning one copies 768 bytes.
func nested(genlPayload []byte, typ uint16, out *attrTable) error {
	if len(genlPayload) < genlHdrLen {
		return fmt.Errorf("short generic netlink message (%d bytes)", len(genlPayload))
	}
	var top attrTable
	if err := top.index(genlPayload[genlHdrLen:]); err != nil {
		return err
	}
	if in := top.get(typ); in != nil {
		return out.index(in)
	}
	return fmt.Errorf("generic netlink message without attribute %d", typ)
}

// get returns the attribute typ, nil when absent.
func (a *attrTable) get(typ uint16) []byte {
	if typ >= attrSlots {
		return nil
	}
	return a[typ]
}

func attrU16(a *attrTable, typ uint16) (uint16, bool) {
	v := a.get(typ)
	if len(v) < 2 {
		return 0, false
	}
	return binary.NativeEndian.Uint16(v), true
}

func attrU32(a *attrTable, typ uint16) (uint32, bool) {
	v := a.get(typ)
	if len(v) < 4 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(v), true
}

func attrPort(a *attrTable, typ uint16) (uint16, bool) {
	v := a.get(typ)
	if len(v) < 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// attrAddr reads an address of family af: the kernel sends a whole
// union nf_inet_addr (16 bytes), IPv4 in its first four.
func attrAddr(a *attrTable, typ uint16, af uint16) (netip.Addr, error) {
	v := a.get(typ)
	switch {
	case af == afInet && len(v) >= 4:
		return netip.AddrFrom4([4]byte(v[:4])), nil
	case af == afInet6 && len(v) >= 16:
		return netip.AddrFrom16([16]byte(v[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("address %x of family %d: %w", v, af, ErrInvalid)
}

// parseService reads one message of a service dump. fwmark is non-zero for
// a firewall-mark service, whose key the model cannot hold.
func parseService(genlPayload []byte) (vs model.VirtualServer, fwmark uint32, err error) {
	var a attrTable
	if err = nested(genlPayload, ipvsCmdAttrService, &a); err != nil {
		return vs, 0, err
	}
	if fwmark, _ = attrU32(&a, ipvsSvcAttrFWMark); fwmark != 0 {
		return vs, fwmark, nil
	}
	af, _ := attrU16(&a, ipvsSvcAttrAF)
	if vs.Addr, err = attrAddr(&a, ipvsSvcAttrAddr, af); err != nil {
		return vs, 0, fmt.Errorf("virtual server: %w", err)
	}
	proto, _ := attrU16(&a, ipvsSvcAttrProtocol)
	vs.Proto = model.Protocol(proto)
	vs.Port, _ = attrPort(&a, ipvsSvcAttrPort)
	if name := a.get(ipvsSvcAttrSchedName); len(name) > 0 {
		vs.Scheduler = string(name[:len(name)-1]) // NUL-terminated
	}
	if f, ok := attrU32(&a, ipvsSvcAttrFlags); ok { // struct ip_vs_flags: flags, then mask
		vs.Flags = model.SchedFlags(f) & knownFlags
	}
	vs.Timeout, _ = attrU32(&a, ipvsSvcAttrTimeout)
	return vs, 0, nil
}

// parseDest reads one message of a destination dump of a service of family
// svcAF (kernels before 3.18 send no destination family).
func parseDest(genlPayload []byte, svcAF uint16) (model.RealServer, model.RealServerStats, error) {
	var rs model.RealServer
	var st model.RealServerStats
	var a attrTable
	err := nested(genlPayload, ipvsCmdAttrDest, &a)
	if err != nil {
		return rs, st, err
	}
	af, ok := attrU16(&a, ipvsDestAttrAddrFamily)
	if !ok {
		af = svcAF
	}
	if rs.Addr, err = attrAddr(&a, ipvsDestAttrAddr, af); err != nil {
		return rs, st, fmt.Errorf("real server: %w", err)
	}
	rs.Port, _ = attrPort(&a, ipvsDestAttrPort)
	w, _ := attrU32(&a, ipvsDestAttrWeight)
	rs.Weight = int32(w)
	st.ActiveConns, _ = attrU32(&a, ipvsDestAttrActive)
	st.InactiveConns, _ = attrU32(&a, ipvsDestAttrInactive)
	return rs, st, nil
}
