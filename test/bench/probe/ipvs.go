package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/moby/ipvs"
)

// IPVSTable is the path of the kernel's IPVS table as text.
const IPVSTable = "/proc/net/ip_vs"

// CountIPVS returns how many virtual and real servers the kernel's IPVS
// table holds, from one read of /proc/net/ip_vs: cheaper than a netlink dump
// of every virtual server's destinations.
func CountIPVS(path string) (virtual, real int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return countIPVS(f)
}

// countIPVS counts the lines of a /proc/net/ip_vs listing: "TCP  C6120100:0050 rr"
// per virtual server, "  -> C6130000:1F90 Masq 1 0 0" per real server.
func countIPVS(r io.Reader) (virtual, real int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("  -> ")) && !bytes.Contains(line, []byte("RemoteAddress")):
			real++
		case bytes.HasPrefix(line, []byte("TCP ")), bytes.HasPrefix(line, []byte("UDP ")),
			bytes.HasPrefix(line, []byte("SCTP ")), bytes.HasPrefix(line, []byte("FWM ")):
			virtual++
		}
	}
	return virtual, real, sc.Err()
}

// IPVS reads one virtual server's real servers over netlink. Its methods
// may be called from several goroutines (the burst phase polls the table
// while it times changes): moby/ipvs's handle is one socket, and two
// requests in flight on it can each read the other's answer, so calls are
// serialised.
type IPVS struct {
	mu sync.Mutex
	h  *ipvs.Handle
}

// NewIPVS opens a netlink handle in the current network namespace.
func NewIPVS() (*IPVS, error) {
	h, err := ipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink: %w", err)
	}
	return &IPVS{h: h}, nil
}

// Weight returns the weight of real server rs of TCP virtual server vip,
// and whether it is there at all. Only vip's destinations are dumped.
func (p *IPVS) Weight(vip netip.AddrPort, rs netip.Addr) (weight int, found bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dsts, err := p.h.GetDestinations(tcpService(vip))
	if err != nil {
		return 0, false, fmt.Errorf("listing the real servers of %s: %w", vip, err)
	}
	for _, d := range dsts {
		if da, ok := netip.AddrFromSlice(d.Address); ok && da.Unmap() == rs {
			return d.Weight, true, nil
		}
	}
	return 0, false, nil
}

// Count returns how many virtual and real servers the kernel's IPVS table
// holds, from one netlink dump of the virtual servers and one of each one's
// real servers. Unlike /proc/net/ip_vs, whose reads restart the walk of
// the service table for every page (minutes at 100,000 services), it is
// linear in the table.
func (p *IPVS) Count() (virtual, real int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	svcs, err := p.h.GetServices()
	if err != nil {
		return 0, 0, fmt.Errorf("listing the virtual servers: %w", err)
	}
	for _, s := range svcs {
		dsts, err := p.h.GetDestinations(s)
		if err != nil {
			return 0, 0, fmt.Errorf("listing the real servers of %v:%d: %w", s.Address, s.Port, err)
		}
		real += len(dsts)
	}
	return len(svcs), real, nil
}

// Reals returns how many real servers TCP virtual server vip has, and
// whether vip exists.
func (p *IPVS) Reals(vip netip.AddrPort) (n int, found bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dsts, err := p.h.GetDestinations(tcpService(vip))
	switch {
	case errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("listing the real servers of %s: %w", vip, err)
	}
	return len(dsts), true, nil
}

// tcpService names IPv4 TCP virtual server vip for moby/ipvs.
func tcpService(vip netip.AddrPort) *ipvs.Service {
	a := vip.Addr().As4()
	return &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: a[:], Port: vip.Port()}
}
