package guest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This file makes, by hand, what other software on a node holds in the
// kernel beside the proxy: keepalived's addresses and virtual servers, and
// a kernel that lacks a module. Scenarios use it to check that the proxy
// leaves others' state alone and survives what the kernel refuses.

// AddDummy creates the dummy interface name, up, with each address as a
// host address (/32 or /128), as keepalived or an operator binds a virtual
// IP. It returns a function that deletes the interface.
func AddDummy(name string, addrs ...netip.Addr) (func() error, error) {
	if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return nil, fmt.Errorf("adding dummy interface %s: %w", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding interface %s: %w", name, err)
	}
	del := func() error { return netlink.LinkDel(link) }
	for _, a := range addrs {
		if err := netlink.AddrAdd(link, nodadAddr(netip.PrefixFrom(a, a.BitLen()))); err != nil {
			return nil, errors.Join(fmt.Errorf("adding %s to %s: %w", a, name, err), del())
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, errors.Join(fmt.Errorf("raising %s: %w", name, err), del())
	}
	return del, nil
}

// ipvsService is the moby/ipvs form of virtual server vip.
func ipvsService(vip netip.AddrPort, proto, sched string) *ipvs.Service {
	fam, mask := uint16(syscall.AF_INET), uint32(0xffffffff)
	if vip.Addr().Is6() {
		fam, mask = syscall.AF_INET6, 128
	}
	return &ipvs.Service{Address: net.IP(vip.Addr().AsSlice()), Port: vip.Port(), Protocol: protoNumber(proto),
		AddressFamily: fam, SchedName: sched, Netmask: mask}
}

// AddVirtualServer creates the IPVS virtual server vip (proto "tcp" or
// "udp") with scheduler sched and these real servers and weights, in NAT
// (masquerading) mode, over netlink with moby/ipvs, as keepalived would.
func AddVirtualServer(vip netip.AddrPort, proto, sched string, reals map[netip.AddrPort]int) error {
	h, err := handle()
	if err != nil {
		return err
	}
	svc := ipvsService(vip, proto, sched)
	if err := h.NewService(svc); err != nil {
		return fmt.Errorf("adding IPVS %s %s (scheduler %s): %w", proto, vip, sched, err)
	}
	for addr, w := range reals {
		d := &ipvs.Destination{Address: net.IP(addr.Addr().AsSlice()), Port: addr.Port(), Weight: w,
			ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: svc.AddressFamily}
		if err := h.NewDestination(svc, d); err != nil {
			return fmt.Errorf("adding real server %s to IPVS %s %s: %w", addr, proto, vip, err)
		}
	}
	return nil
}

// DeleteVirtualServer deletes the IPVS virtual server vip; a missing one is
// fine.
func DeleteVirtualServer(vip netip.AddrPort, proto string) error {
	h, s, err := findService(vip, proto)
	if err != nil || s == nil {
		return err
	}
	return h.DelService(s)
}

// HideModule unloads kernel module name and renames its file, so that the
// kernel cannot load it on demand either: the node's kernel lacks it, as a
// real node's kernel may lack an IPVS scheduler (ip_vs_mh before Linux
// 4.18, ip_vs_twos before 6.7). It returns a function that puts the file
// back (the module stays unloaded).
func HideModule(name string) (func() error, error) {
	err := unix.DeleteModule(name, unix.O_NONBLOCK)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("unloading module %s: %w", name, err)
	}
	path, err := modulePath(name)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(path, path+".hidden"); err != nil {
		return nil, fmt.Errorf("hiding module %s: %w", name, err)
	}
	return func() error { return os.Rename(path+".hidden", path) }, nil
}

// modulePath finds module name's file through modules.dep.
func modulePath(name string) (string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", err
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return "", fmt.Errorf("reading modules.dep: %w", err)
	}
	for _, line := range strings.Split(string(dep), "\n") {
		file, _, _ := strings.Cut(line, ":")
		base := filepath.Base(file)
		if base == name+".ko" || strings.HasPrefix(base, name+".ko.") {
			return filepath.Join(dir, file), nil
		}
	}
	return "", fmt.Errorf("module %s is not in %s/modules.dep", name, dir)
}
