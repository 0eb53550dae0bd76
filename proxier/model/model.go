// Package model holds the plain, comparable values that describe what a node's
// kernel must contain: IPVS virtual servers and their real servers, the
// addresses bound on the dummy interface, and the netfilter intent that IPVS
// alone cannot express.
//
// It is the vocabulary shared by the pure core (proxier.Build and
// proxier.Diff) and the kernel adapters (proxier/ipvs, proxier/addr,
// proxier/netfilter, ...). It imports nothing but the standard library, so
// every layer can depend on it without cycles:
//
//	proxier.Build ─► model.Desired ─► proxier.Diff ─► model.Plan ─► adapters
//	                                        ▲
//	adapters.List ─► model.Observed ────────┘
package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
)

// Protocol is a transport protocol IPVS can balance.
type Protocol uint8

// Protocols, numbered as IANA numbers them (the values IPVS netlink carries).
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// String returns the lower-case protocol name ("tcp", "udp", "sctp").
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// ipvsadmFlag is the ipvsadm option naming the protocol of a virtual service.
func (p Protocol) ipvsadmFlag() string {
	switch p {
	case TCP:
		return "-t"
	case UDP:
		return "-u"
	case SCTP:
		return "--sctp-service"
	}
	return "--proto-" + strconv.Itoa(int(p))
}

// ParseProtocol parses "tcp", "udp" or "sctp" in any case.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "tcp", "TCP":
		return TCP, nil
	case "udp", "UDP":
		return UDP, nil
	case "sctp", "SCTP":
		return SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", s)
}

// SchedFlags are the IPVS service flags this project programs. The values are
// the kernel's IP_VS_SVC_F_* bits, so adapters pass them through unchanged.
type SchedFlags uint32

// Service flag bits (include/uapi/linux/ip_vs.h).
const (
	FlagPersistent SchedFlags = 0x0001 // IP_VS_SVC_F_PERSISTENT
	FlagSched1     SchedFlags = 0x0008 // sh-fallback / mh-fallback
	FlagSched2     SchedFlags = 0x0010 // sh-port / mh-port
	FlagSched3     SchedFlags = 0x0020 // scheduler-specific flag 3
)

// SchedFlagMask covers the scheduler-specific flag bits printed by ipvsadm -b.
const SchedFlagMask = FlagSched1 | FlagSched2 | FlagSched3

// VSKey identifies an IPVS virtual server: address, port and protocol.
type VSKey struct {
	Addr  netip.Addr
	Port  uint16
	Proto Protocol
}

// String formats the key as ipvsadm does: "tcp 10.0.0.1:80", "udp [fd00::1]:53".
func (k VSKey) String() string {
	return k.Proto.String() + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// Less orders keys by address, then port, then protocol.
func (k VSKey) Less(o VSKey) bool { return k.Compare(o) < 0 }

// Compare orders keys as Less does, for slices.SortFunc: -1, 0 or +1.
func (k VSKey) Compare(o VSKey) int {
	return cmp.Or(k.Addr.Compare(o.Addr), cmp.Compare(k.Port, o.Port), cmp.Compare(k.Proto, o.Proto))
}

// VirtualServer is the configuration of one IPVS virtual server.
type VirtualServer struct {
	VSKey
	// Scheduler is the IPVS scheduler name (rr, wrr, lc, wlc, lblc, lblcr,
	// sh, dh, sed, nq, mh).
	Scheduler string
	// Flags holds FlagPersistent and the scheduler flags FlagSched1..3.
	Flags SchedFlags
	// Timeout is the persistence timeout in seconds; it is non-zero exactly
	// when Flags has FlagPersistent.
	Timeout uint32
}

// Persistent reports whether the virtual server keeps clients on one real
// server (sessionAffinity: ClientIP).
func (v VirtualServer) Persistent() bool { return v.Flags&FlagPersistent != 0 }

// RSKey identifies a real server within its virtual server.
type RSKey struct {
	Addr netip.Addr
	Port uint16
}

// String formats the key as "10.0.0.1:80" or "[fd00::1]:80".
func (k RSKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Less orders keys by address, then port.
func (k RSKey) Less(o RSKey) bool { return k.Compare(o) < 0 }

// Compare orders keys as Less does, for slices.SortFunc and binary search.
func (k RSKey) Compare(o RSKey) int {
	return cmp.Or(k.Addr.Compare(o.Addr), cmp.Compare(k.Port, o.Port))
}

// RealServer is one destination of a virtual server. Masquerading (NAT) is the
// only forwarding method this project uses, so it is not a field.
type RealServer struct {
	RSKey
	// Weight is 1 for an endpoint that takes new connections and 0 for one
	// that only finishes the connections it has (terminating or draining).
	Weight int32
}

// RealServerStats are the per-destination connection counters the drain
// logic reads.
type RealServerStats struct {
	ActiveConns   uint32
	InactiveConns uint32
}
