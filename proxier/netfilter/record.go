package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Record reads what our tables serve, from the service-ports and
// node-ports sets of both tables: the record a restarted engine reads
// (model.ServedPorts). Missing tables or sets give an empty record.
func (k *Kernel) Record() (model.ServedPorts, error) {
	c, err := k.conn()
	if err != nil {
		return model.ServedPorts{}, err
	}
	var r model.ServedPorts
	for _, f := range families {
		tbl := &nftables.Table{Family: f.table, Name: k.cfg.TableName}
		err := readRecordSet(c, tbl, setServicePorts, func(key []byte) {
			if vs, ok := parsePortKey(key, f.addrLen); ok {
				r.Ports = append(r.Ports, vs)
			}
		})
		if err == nil {
			err = readRecordSet(c, tbl, setNodePorts, func(key []byte) {
				if np, ok := parseNodePortKey(key); ok {
					r.NodePorts = append(r.NodePorts, np)
				}
			})
		}
		if err != nil {
			return model.ServedPorts{}, fmt.Errorf("reading the %s table: %w", f.name, err)
		}
	}
	r.Sort()
	return r, nil
}

// readRecordSet calls each with the key of every element of set name in tbl. A
// missing table or set has no elements.
func readRecordSet(c *nftables.Conn, tbl *nftables.Table, name string, each func(key []byte)) error {
	s, err := c.GetSetByName(tbl, name)
	if err != nil {
		return nil // no table of this family, or no such set: nothing recorded
	}
	elems, err := c.GetSetElements(s)
	if err != nil {
		return fmt.Errorf("reading set %s: %w", name, err)
	}
	for _, e := range elems {
		each(e.Key)
	}
	return nil
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

// Record implements Interface: the ports and node ports of the intent
// last applied.
func (f *Fake) Record() (model.ServedPorts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallRecord); err != nil {
		return model.ServedPorts{}, err
	}
	var r model.ServedPorts
	if f.applied != nil {
		for _, p := range f.applied.Ports {
			if p.Kind != model.KindNodePort {
				r.Ports = append(r.Ports, p.VSKey)
			}
		}
		for _, np := range f.applied.NodePorts {
			r.NodePorts = append(r.NodePorts, model.NodePort{Proto: np.Proto, Port: np.Port})
		}
	}
	r.Sort()
	return r, nil
}
