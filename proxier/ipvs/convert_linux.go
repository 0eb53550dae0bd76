package ipvs

// Conversion of model values to the moby/ipvs types of the single-call
// write path. Reads do not go through moby/ipvs (see dump_linux.go).

import (
	"net"
	"net/netip"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// netIP converts an address to the 4- or 16-byte form moby/ipvs sends.
func netIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// keyService is the moby service that names a virtual server in requests
// that need only its key (get, delete, destination operations).
func keyService(k model.VSKey) *mobyipvs.Service {
	s := &mobyipvs.Service{
		Address:       netIP(k.Addr),
		Protocol:      uint16(k.Proto),
		Port:          k.Port,
		AddressFamily: afOf(k.Addr),
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

// toDestination converts a real server to the moby destination that adds or
// updates it: masquerading, no connection thresholds.
func toDestination(rs model.RealServer) *mobyipvs.Destination {
	return &mobyipvs.Destination{
		Address:         netIP(rs.Addr),
		Port:            rs.Port,
		Weight:          int(rs.Weight),
		ConnectionFlags: mobyipvs.ConnectionFlagMasq,
		AddressFamily:   afOf(rs.Addr),
	}
}

// keyDestination is the moby destination that names a real server in a
// delete request.
func keyDestination(k model.RSKey) *mobyipvs.Destination {
	return toDestination(model.RealServer{RSKey: k})
}
