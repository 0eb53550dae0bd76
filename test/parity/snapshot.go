package parity

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// IPVS service flags as the kernel reports them (IP_VS_SVC_F_*).
const (
	FlagPersistent uint32 = 0x1
	// FlagHashed is set by the kernel on every service it lists; Snapshot
	// leaves it out.
	FlagHashed uint32 = 0x2
	FlagSched1 uint32 = 0x8  // sh-fallback / mh-fallback
	FlagSched2 uint32 = 0x10 // sh-port / mh-port
	FlagSched3 uint32 = 0x20
)

// Snapshot is what one daemon left in the kernel, as read back by guestrun.
type Snapshot struct {
	// Daemon is "kube-proxy" or "ipvs-proxy".
	Daemon         string          `json:"daemon"`
	VirtualServers []VirtualServer `json:"virtualServers"`
	// Addresses are those bound on kube-ipvs0, as addresses or local
	// routes (kube-proxy binds the one, ipvs-proxy an IPv4 service address
	// as the other), without the kernel's own IPv6 link-local address.
	Addresses []netip.Prefix `json:"addresses"`
	// HostAddresses are the addresses of every other interface: what the
	// rules call the host's own.
	HostAddresses []netip.Addr `json:"hostAddresses"`
	// Settled says the table read the same twice in a row before it was
	// taken; SyncedAfter and SettledAfter are seconds since the daemon
	// started.
	Settled      bool    `json:"settled"`
	SyncedAfter  float64 `json:"syncedAfter"`
	SettledAfter float64 `json:"settledAfter"`
	// Complete says every IP family completed a sync, and one queued after
	// the node's zone label was set, within guestrun's waits. Without it
	// the table may predate the zone or lack a family: on a loaded host
	// kube-proxy's syncs under TCG take minutes.
	Complete bool `json:"complete"`
}

// VSKey identifies a virtual server.
type VSKey struct {
	Addr  netip.Addr `json:"addr"`
	Port  uint16     `json:"port"`
	Proto string     `json:"proto"` // TCP, UDP, SCTP, or FWM for a firewall-mark service
	// FWMark is set for firewall-mark services (neither daemon makes them).
	FWMark uint32 `json:"fwmark,omitempty"`
}

func (k VSKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(k.Addr, k.Port))
}

func (k VSKey) compare(o VSKey) int {
	return cmp.Or(k.Addr.Compare(o.Addr), cmp.Compare(k.Port, o.Port), cmp.Compare(k.Proto, o.Proto), cmp.Compare(k.FWMark, o.FWMark))
}

// VirtualServer is one IPVS service.
type VirtualServer struct {
	VSKey
	Scheduler string `json:"scheduler"`
	// Flags without FlagHashed.
	Flags   uint32       `json:"flags"`
	Timeout uint32       `json:"timeout"`
	Netmask uint32       `json:"netmask"`
	Reals   []RealServer `json:"reals"`
}

// RSKey identifies a real server of a virtual server.
type RSKey struct {
	Addr netip.Addr `json:"addr"`
	Port uint16     `json:"port"`
}

func (k RSKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// RealServer is one IPVS destination.
type RealServer struct {
	RSKey
	Weight int `json:"weight"`
	// Forward is the forwarding method (IP_VS_CONN_F_FWD_MASK bits): 0 masq.
	Forward uint32 `json:"forward"`
	Upper   uint32 `json:"upper"`
	Lower   uint32 `json:"lower"`
}

// Canonical sorts everything, so that equal states compare equal.
func (s *Snapshot) Canonical() {
	slices.SortFunc(s.VirtualServers, func(a, b VirtualServer) int { return a.compare(b.VSKey) })
	for i := range s.VirtualServers {
		slices.SortFunc(s.VirtualServers[i].Reals, func(a, b RealServer) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
	slices.SortFunc(s.Addresses, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	slices.SortFunc(s.HostAddresses, netip.Addr.Compare)
}

// Find returns the virtual server k, or nil.
func (s *Snapshot) Find(k VSKey) *VirtualServer {
	for i := range s.VirtualServers {
		if s.VirtualServers[i].VSKey == k {
			return &s.VirtualServers[i]
		}
	}
	return nil
}

// Attrs prints the virtual server's settings in ipvsadm's words.
func (v *VirtualServer) Attrs() string {
	out := "-s " + v.Scheduler
	if v.Flags&^FlagPersistent != 0 {
		out += fmt.Sprintf(" -b %s", FlagNames(v.Flags&^FlagPersistent))
	}
	if v.Flags&FlagPersistent != 0 {
		out += fmt.Sprintf(" -p %d", v.Timeout)
	}
	if v.Netmask != 0 && v.Netmask != 0xffffffff && v.Netmask != 128 {
		out += fmt.Sprintf(" -M %#x", v.Netmask)
	}
	return out
}

// Lines prints the virtual server and its real servers like ipvsadm -Sn.
func (v *VirtualServer) Lines() []string {
	out := []string{fmt.Sprintf("%s %s", v.VSKey, v.Attrs())}
	for _, r := range v.Reals {
		out = append(out, "  -> "+r.String())
	}
	return out
}

func (r RealServer) String() string {
	s := fmt.Sprintf("%s -w %d", r.RSKey, r.Weight)
	if r.Forward != 0 {
		s += fmt.Sprintf(" fwd=%d", r.Forward)
	}
	if r.Upper != 0 || r.Lower != 0 {
		s += fmt.Sprintf(" -x %d -y %d", r.Upper, r.Lower)
	}
	return s
}

// FlagNames names IPVS service flags as ipvsadm -b does.
func FlagNames(f uint32) string {
	var names []string
	for _, n := range []struct {
		bit  uint32
		name string
	}{{FlagPersistent, "persistent"}, {FlagSched1, "flag-1"}, {FlagSched2, "flag-2"}, {FlagSched3, "flag-3"}} {
		if f&n.bit != 0 {
			names = append(names, n.name)
			f &^= n.bit
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", f))
	}
	return strings.Join(names, ",")
}
