package main

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"syscall"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
	"github.com/ipvs-proxy/ipvs-proxy/test/parity"
)

// protoNames maps IP protocol numbers to the API's protocol names.
var protoNames = map[uint16]string{syscall.IPPROTO_TCP: "TCP", syscall.IPPROTO_UDP: "UDP", syscall.IPPROTO_SCTP: "SCTP"}

// read takes a canonical snapshot of the kernel: the IPVS table over
// netlink (moby/ipvs, not either daemon's code), the addresses bound on
// kube-ipvs0 and those of every other interface.
func read() (*parity.Snapshot, error) {
	h, err := ipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS: %w", err)
	}
	defer h.Close()
	svcs, err := h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	snap := &parity.Snapshot{}
	for _, s := range svcs {
		vs, err := virtualServer(h, s)
		if err != nil {
			return nil, err
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	if err := readAddrs(snap); err != nil {
		return nil, err
	}
	snap.Canonical()
	return snap, nil
}

// virtualServer converts one IPVS service and reads its destinations.
func virtualServer(h *ipvs.Handle, s *ipvs.Service) (parity.VirtualServer, error) {
	a, _ := netip.AddrFromSlice(s.Address)
	vs := parity.VirtualServer{
		VSKey:     parity.VSKey{Addr: a.Unmap(), Port: s.Port, Proto: protoNames[s.Protocol], FWMark: s.FWMark},
		Scheduler: s.SchedName,
		Flags:     s.Flags &^ parity.FlagHashed,
		Timeout:   s.Timeout,
		Netmask:   s.Netmask,
	}
	if s.FWMark != 0 {
		vs.Proto = "FWM"
	}
	dsts, err := h.GetDestinations(s)
	if err != nil {
		return vs, fmt.Errorf("listing the real servers of %s: %w", vs.VSKey, err)
	}
	for _, d := range dsts {
		da, _ := netip.AddrFromSlice(d.Address)
		vs.Reals = append(vs.Reals, parity.RealServer{
			RSKey:   parity.RSKey{Addr: da.Unmap(), Port: d.Port},
			Weight:  d.Weight,
			Forward: d.ConnectionFlags & ipvs.ConnFwdMask,
			Upper:   d.UpperThreshold,
			Lower:   d.LowerThreshold,
		})
	}
	return vs, nil
}

// readAddrs fills in what is bound on kube-ipvs0 and every other
// interface's addresses. Bound means what the kernel treats as local through
// kube-ipvs0 (guest.Bindings): kube-proxy binds a /32 address where
// ipvs-proxy binds a /32 local route, and both read the same here, so that
// the suite compares what traffic sees, not the form.
func readAddrs(snap *parity.Snapshot) error {
	dummy := -1
	if l, err := netlink.LinkByName(parity.DummyInterface); err == nil {
		dummy = l.Attrs().Index
		bound, err := guest.Bindings(parity.DummyInterface)
		if err != nil {
			return err
		}
		for _, b := range bound {
			snap.Addresses = append(snap.Addresses, b.Prefix)
		}
	}
	list, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && a.LinkIndex != dummy {
			snap.HostAddresses = append(snap.HostAddresses, ip.Unmap())
		}
	}
	return nil
}

// equal compares two snapshots' kernel state.
func equal(a, b *parity.Snapshot) bool {
	return reflect.DeepEqual(a.VirtualServers, b.VirtualServers) && reflect.DeepEqual(a.Addresses, b.Addresses)
}

// flushIPVS removes every virtual server.
func flushIPVS() error {
	h, err := ipvs.New("")
	if err != nil {
		return fmt.Errorf("opening IPVS: %w", err)
	}
	defer h.Close()
	if err := h.Flush(); err != nil {
		return fmt.Errorf("flushing IPVS: %w", err)
	}
	return nil
}

// deleteLink deletes interface name; a missing one is fine.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

// addHostAddrs creates parity.HostInterface, up, with the addresses
// (without duplicate address detection, so they are usable at once).
func addHostAddrs(addrs []netip.Prefix) error {
	if len(addrs) == 0 {
		return nil
	}
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: parity.HostInterface}}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("adding %s: %w", parity.HostInterface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %w", parity.HostInterface, err)
	}
	for _, p := range addrs {
		a, err := netlink.ParseAddr(p.String())
		if err != nil {
			return err
		}
		a.Flags = unix.IFA_F_NODAD
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("adding %s to %s: %w", p, parity.HostInterface, err)
		}
	}
	return nil
}
