package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ServicePorts returns the elements of our service-ports sets as virtual
// server keys: every cluster, external and load-balancer port the program
// last applied serves, host ports included. The engine reads it once at
// start to recognise the virtual servers it created on host addresses,
// which no other kernel state records (see reconcile.Owner). Missing tables
// give an empty list.
func (k *Kernel) ServicePorts() ([]model.VSKey, error) {
	c, err := k.conn()
	if err != nil {
		return nil, err
	}
	var out []model.VSKey
	for _, f := range families {
		tbl := &nftables.Table{Family: f.table, Name: k.cfg.TableName}
		ns, err := c.GetSetByName(tbl, setServicePorts)
		if err != nil {
			continue // no table of this family, or no such set: nothing recorded
		}
		elems, err := c.GetSetElements(ns)
		if err != nil {
			return nil, fmt.Errorf("reading set %s %s: %w", f.name, setServicePorts, err)
		}
		for _, e := range elems {
			if key, ok := parsePortKey(e.Key, f.addrLen); ok {
				out = append(out, key)
			}
		}
	}
	slices.SortFunc(out, model.VSKey.Compare)
	return slices.Compact(out), nil
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

// ServicePorts implements Interface: the cluster, external and
// load-balancer ports of the intent last applied.
func (f *Fake) ServicePorts() ([]model.VSKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(CallServicePorts); err != nil {
		return nil, err
	}
	var out []model.VSKey
	if f.applied != nil {
		for _, p := range f.applied.Ports {
			if p.Kind != model.KindNodePort {
				out = append(out, p.VSKey)
			}
		}
	}
	slices.SortFunc(out, model.VSKey.Compare)
	return slices.Compact(out), nil
}
