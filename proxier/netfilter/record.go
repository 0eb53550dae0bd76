package netfilter

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// recordOf decodes what the tables of p serve, from their service-ports
// and node-ports sets: the record a restarted engine reads
// (model.ServedPorts). Missing tables or sets give an empty record.
func recordOf(p *Program) model.ServedPorts {
	var r model.ServedPorts
	for _, t := range p.Tables {
		addrLen := 4
		if t.Family == nftables.TableFamilyIPv6 {
			addrLen = 16
		}
		for _, s := range t.Sets {
			for _, e := range s.Elements {
				switch s.Name {
				case setServicePorts:
					if vs, ok := parsePortKey(e.Key, addrLen); ok {
						r.Ports = append(r.Ports, vs)
					}
				case setNodePorts:
					if np, ok := parseNodePortKey(e.Key); ok {
						r.NodePorts = append(r.NodePorts, np)
					}
				}
			}
		}
	}
	r.Sort()
	return r
}

// parseNodePortKey decodes an element of a node-ports set: the protocol
// and the port, each padded to a register.
func parseNodePortKey(b []byte) (model.NodePort, bool) {
	if len(b) != 8 {
		return model.NodePort{}, false
	}
	return model.NodePort{Proto: model.Protocol(b[0]), Port: binary.BigEndian.Uint16(b[4:])}, true
}

// parsePortKey decodes an element of a service-ports set (see portKey):
// the address, then the protocol and the port each padded to a register.
func parsePortKey(b []byte, addrLen int) (model.VSKey, bool) {
	if len(b) != addrLen+8 {
		return model.VSKey{}, false
	}
	a, ok := netip.AddrFromSlice(b[:addrLen])
	if !ok {
		return model.VSKey{}, false
	}
	return model.VSKey{Addr: a, Proto: model.Protocol(b[addrLen]), Port: binary.BigEndian.Uint16(b[addrLen+4:])}, true
}

// servedPorts returns the ports and node ports of intent n (nil: no
// tables), as the kernel's tables hold them.
func servedPorts(n *model.Netfilter) model.ServedPorts {
	var r model.ServedPorts
	if n != nil {
		for _, p := range n.Ports {
			if p.Kind != model.KindNodePort {
				r.Ports = append(r.Ports, p.VSKey)
			}
		}
		for _, np := range n.NodePorts {
			r.NodePorts = append(r.NodePorts, model.NodePort{Proto: np.Proto, Port: np.Port})
		}
	}
	r.Sort()
	return r
}
