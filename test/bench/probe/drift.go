package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/google/nftables"
	"github.com/moby/ipvs"
)

// ipvs-proxy's IPv4 table and the set that lists every service port it
// serves (proxier/netfilter/program.go): a missing element stops the
// masquerade and firewall rules from matching that port.
const (
	oursTable        = "ipvs-proxy"
	oursServicePorts = "service-ports"
)

// Operator changes ipvs-proxy's kernel state behind its back, as an
// operator (nft delete element, ipvsadm -C/-d/-D) or another program
// would, and reads whether it is back. It is the only writer in this
// package; the drift phase of the benchmark uses it, and guest.Unbind for
// a bound address.
type Operator struct {
	ipvs *ipvs.Handle
	nft  *nftables.Conn
}

// NewOperator opens IPVS and nftables netlink connections.
func NewOperator() (*Operator, error) {
	h, err := ipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink: %w", err)
	}
	c, err := nftables.New()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("opening nftables netlink: %w", err)
	}
	return &Operator{ipvs: h, nft: c}, nil
}

// DeleteServicePort deletes vip's element from ipvs-proxy's IPv4
// service-ports set and returns its key, for ServicePortPresent. It works
// by key and never lists the set: at 100k services a listing took 13-23 s
// in the VM, beside the daemon's own read-back of the same set.
func (o *Operator) DeleteServicePort(vip netip.AddrPort) ([]byte, error) {
	set, err := o.servicePorts()
	if err != nil {
		return nil, err
	}
	key := servicePortKey(vip)
	if err := o.nft.SetDeleteElements(set, []nftables.SetElement{{Key: key}}); err != nil {
		return nil, err
	}
	if err := o.nft.Flush(); err != nil {
		return nil, fmt.Errorf("deleting %v from %s: %w", vip, oursServicePorts, err)
	}
	return key, nil
}

// servicePortKey is a TCP service port's key: the address, then the
// protocol and the port, each padded to a 4-byte register
// (proxier/netfilter: portKey).
func servicePortKey(vip netip.AddrPort) []byte {
	a := vip.Addr().As4()
	return append(a[:], syscall.IPPROTO_TCP, 0, 0, 0, byte(vip.Port()>>8), byte(vip.Port()), 0, 0)
}

// ServicePortPresent reports whether the service-ports set holds key: one
// element lookup in the kernel (NFT_MSG_GETSETELEM without a dump).
func (o *Operator) ServicePortPresent(key []byte) (bool, error) {
	return getElement(nftables.TableFamilyIPv4, oursTable, oursServicePorts, key)
}

// AddServicePort puts back an element DeleteServicePort removed.
func (o *Operator) AddServicePort(key []byte) error {
	set, err := o.servicePorts()
	if err != nil {
		return err
	}
	if err := o.nft.SetAddElements(set, []nftables.SetElement{{Key: key}}); err != nil {
		return err
	}
	return o.nft.Flush()
}

func (o *Operator) servicePorts() (*nftables.Set, error) {
	tbl := &nftables.Table{Name: oursTable, Family: nftables.TableFamilyIPv4}
	set, err := o.nft.GetSetByName(tbl, oursServicePorts)
	if err != nil {
		return nil, fmt.Errorf("getting set %s: %w", oursServicePorts, err)
	}
	return set, nil
}

// FlushIPVS deletes every virtual server and real server (ipvsadm -C).
func (o *Operator) FlushIPVS() error { return o.ipvs.Flush() }

// VirtualServer is one TCP virtual server and its real servers as the
// kernel held them, to delete them and, if nothing repairs them, put them
// back.
type VirtualServer struct {
	Service *ipvs.Service
	Real    []*ipvs.Destination
}

// Dump returns TCP virtual server vip with its real servers.
func (o *Operator) Dump(vip netip.AddrPort) (*VirtualServer, error) {
	a := vip.Addr().As4()
	s, err := o.ipvs.GetService(&ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: a[:], Port: vip.Port()})
	if err != nil {
		return nil, fmt.Errorf("getting virtual server %s: %w", vip, err)
	}
	dsts, err := o.ipvs.GetDestinations(s)
	if err != nil {
		return nil, fmt.Errorf("listing the real servers of %s: %w", vip, err)
	}
	return &VirtualServer{Service: s, Real: dsts}, nil
}

// DumpAll returns every TCP, UDP and SCTP virtual server with its real
// servers: what FlushIPVS deletes, to put back with Restore.
func (o *Operator) DumpAll() ([]*VirtualServer, error) {
	svcs, err := o.ipvs.GetServices()
	if err != nil {
		return nil, fmt.Errorf("listing the virtual servers: %w", err)
	}
	out := make([]*VirtualServer, 0, len(svcs))
	for _, s := range svcs {
		dsts, err := o.ipvs.GetDestinations(s)
		if err != nil {
			return nil, fmt.Errorf("listing the real servers of %v:%d: %w", s.Address, s.Port, err)
		}
		out = append(out, &VirtualServer{Service: s, Real: dsts})
	}
	return out, nil
}

// DeleteReal deletes one real server of vs (ipvsadm -d).
func (o *Operator) DeleteReal(vs *VirtualServer, d *ipvs.Destination) error {
	return o.ipvs.DelDestination(vs.Service, d)
}

// DeleteVirtual deletes vs and its real servers (ipvsadm -D).
func (o *Operator) DeleteVirtual(vs *VirtualServer) error { return o.ipvs.DelService(vs.Service) }

// Restore puts back whatever of vs is missing, with its dumped weights.
func (o *Operator) Restore(vs *VirtualServer) error {
	// The daemon may be putting it back at the same time: what it added
	// first (EEXIST) is not an error.
	if !o.ipvs.IsServicePresent(vs.Service) {
		if err := o.ipvs.NewService(vs.Service); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("adding the virtual server back: %w", err)
		}
	}
	have, err := o.ipvs.GetDestinations(vs.Service)
	if err != nil {
		return err
	}
	for _, d := range vs.Real {
		if findReal(have, d) == nil {
			if err := o.ipvs.NewDestination(vs.Service, d); err != nil && !errors.Is(err, syscall.EEXIST) {
				return fmt.Errorf("adding real server %v back: %w", d.Address, err)
			}
		}
	}
	return nil
}

// Complete reports whether the kernel holds vs again with every real
// server it had, at the weights it had.
func (o *Operator) Complete(vs *VirtualServer) (bool, error) {
	if !o.ipvs.IsServicePresent(vs.Service) {
		return false, nil
	}
	have, err := o.ipvs.GetDestinations(vs.Service)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, d := range vs.Real {
		if h := findReal(have, d); h == nil || h.Weight != d.Weight {
			return false, nil
		}
	}
	return true, nil
}

func findReal(list []*ipvs.Destination, d *ipvs.Destination) *ipvs.Destination {
	for _, h := range list {
		if h.Address.Equal(d.Address) && h.Port == d.Port {
			return h
		}
	}
	return nil
}
