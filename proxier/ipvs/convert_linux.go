package ipvs

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// family returns the address family of an address.
func family(a netip.Addr) uint16 {
	if a.Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

// netIP converts an address to the 4- or 16-byte form moby/ipvs sends.
func netIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// keyService is the moby service that names a virtual server in requests
// that need only its key (get, delete, destination operations).
func keyService(k model.VSKey) *mobyipvs.Service {
	s := &mobyipvs.Service{
		Address:       netIP(k.Addr),
		Protocol:      uint16(k.Proto),
		Port:          k.Port,
		AddressFamily: family(k.Addr),
		Netmask:       netmaskIPv4,
	}
	if k.Addr.Is6() {
		s.Netmask = netmaskIPv6
	}
	return s
}

// toService converts a virtual server to the moby service that creates or
// updates it. moby/ipvs sends the flags with a full mask, so bits not set
// here are cleared in the kernel.
func toService(vs model.VirtualServer) *mobyipvs.Service {
	s := keyService(vs.VSKey)
	s.SchedName = vs.Scheduler
	s.Flags = uint32(vs.Flags)
	s.Timeout = vs.Timeout
	return s
}

// fromService converts a dumped moby service to a virtual server. Flag bits
// the kernel keeps for itself (hashed) are masked out.
func fromService(s *mobyipvs.Service) (model.VirtualServer, error) {
	addr, err := addrFrom(s.Address, s.AddressFamily)
	if err != nil {
		return model.VirtualServer{}, fmt.Errorf("virtual server %v:%d: %w", s.Address, s.Port, err)
	}
	return model.VirtualServer{
		VSKey:     model.VSKey{Addr: addr, Port: s.Port, Proto: model.Protocol(s.Protocol)},
		Scheduler: s.SchedName,
		Flags:     model.SchedFlags(s.Flags) & knownFlags,
		Timeout:   s.Timeout,
	}, nil
}

// toDestination converts a real server to the moby destination that adds or
// updates it: masquerading, no connection thresholds.
func toDestination(rs model.RealServer) *mobyipvs.Destination {
	return &mobyipvs.Destination{
		Address:         netIP(rs.Addr),
		Port:            rs.Port,
		Weight:          int(rs.Weight),
		ConnectionFlags: mobyipvs.ConnectionFlagMasq,
		AddressFamily:   family(rs.Addr),
	}
}

// keyDestination is the moby destination that names a real server in a
// delete request.
func keyDestination(k model.RSKey) *mobyipvs.Destination {
	return toDestination(model.RealServer{RSKey: k})
}

// fromDestination converts a dumped moby destination to a real server and
// its connection counters.
func fromDestination(d *mobyipvs.Destination) (model.RealServer, model.RealServerStats, error) {
	addr, err := addrFrom(d.Address, d.AddressFamily)
	if err != nil {
		return model.RealServer{}, model.RealServerStats{}, fmt.Errorf("real server %v:%d: %w", d.Address, d.Port, err)
	}
	rs := model.RealServer{RSKey: model.RSKey{Addr: addr, Port: d.Port}, Weight: int32(d.Weight)}
	st := model.RealServerStats{ActiveConns: uint32(d.ActiveConnections), InactiveConns: uint32(d.InactiveConnections)}
	return rs, st, nil
}

// addrFrom converts a dumped address of the given family.
func addrFrom(ip net.IP, fam uint16) (netip.Addr, error) {
	switch {
	case fam == syscall.AF_INET && len(ip) >= 4:
		return netip.AddrFrom4([4]byte(ip[:4])), nil
	case fam == syscall.AF_INET6 && len(ip) == 16:
		return netip.AddrFrom16([16]byte(ip)), nil
	}
	return netip.Addr{}, fmt.Errorf("address %v of family %d: %w", ip, fam, ErrInvalid)
}
