package netfilter

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Record is what our tables record of the virtual servers we serve, read
// back after a restart: the engine knows by it the virtual servers it
// created on host addresses, which no other kernel state records, and
// which virtual servers a previous run programmed (see reconcile.Owner).
type Record struct {
	// Ports are the elements of the service-ports sets: every cluster,
	// external and load-balancer port (address, protocol, port) the
	// program last applied serves, host ports included, sorted.
	Ports []model.VSKey
	// NodePorts are the elements of the node-ports sets (protocol and
	// port; Local unset), sorted.
	NodePorts []model.NodePort
}

// Record reads the record from both tables. Missing tables or sets give an
// empty record.
func (k *Kernel) Record() (Record, error) {
	c, err := k.conn()
	if err != nil {
		return Record{}, err
	}
	var r Record
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
			return Record{}, fmt.Errorf("reading the %s table: %w", f.name, err)
		}
	}
	r.sort()
	return r, nil
}

func (r *Record) sort() {
	slices.SortFunc(r.Ports, model.VSKey.Compare)
	r.Ports = slices.Compact(r.Ports)
	slices.SortFunc(r.NodePorts, compareNodePortKeys)
	r.NodePorts = slices.Compact(r.NodePorts)
}

func compareNodePortKeys(a, b model.NodePort) int {
	return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
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
func (f *Fake) Record() (Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallRecord); err != nil {
		return Record{}, err
	}
	var r Record
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
	r.sort()
	return r, nil
}
