//go:build linux

package conntrack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// dumpRetries bounds how often a dump interrupted by concurrent changes
// (NLM_F_DUMP_INTR) is repeated before the partial result is accepted
// with an error.
const dumpRetries = 3

// Netlink is the real Interface, speaking ctnetlink.
type Netlink struct {
	h *netlink.Handle
}

var _ Interface = (*Netlink)(nil)

// New returns the real Interface in the network namespace at netnsPath
// ("" means the caller's namespace; tests pass a fresh namespace). Close it
// when done.
func New(netnsPath string) (*Netlink, error) {
	ns := netns.None()
	if netnsPath != "" {
		var err error
		if ns, err = netns.GetFromPath(netnsPath); err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", netnsPath, err)
		}
		defer ns.Close()
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening ctnetlink socket: %w", err)
	}
	return &Netlink{h: h}, nil
}

// Close releases the netlink socket.
func (n *Netlink) Close() { n.h.Close() }

// List implements Interface.
func (n *Netlink) List(proto model.Protocol) ([]Entry, error) {
	var out []Entry
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		flows, err := n.list(fam)
		if err != nil {
			return nil, err
		}
		for _, f := range flows {
			if e := entryFromFlow(f); proto == 0 || e.Proto == proto {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func (n *Netlink) list(fam netlink.InetFamily) ([]*netlink.ConntrackFlow, error) {
	var err error
	for range dumpRetries {
		var flows []*netlink.ConntrackFlow
		flows, err = n.h.ConntrackTableList(netlink.ConntrackTable, fam)
		if err == nil {
			return flows, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("listing conntrack entries (family %d): %w", fam, err)
}

// Clear implements Interface. Invalid filters (see Filter.Validate) are
// rejected before any kernel call.
func (n *Netlink) Clear(filters ...Filter) (int, error) {
	var v4, v6 []netlink.CustomConntrackFilter
	for _, f := range filters {
		if err := f.Validate(); err != nil {
			return 0, err
		}
		is4, is6 := f.families()
		if is4 {
			v4 = append(v4, matcher(f))
		}
		if is6 {
			v6 = append(v6, matcher(f))
		}
	}
	total := 0
	var errs []error
	for _, fam := range []struct {
		af      netlink.InetFamily
		filters []netlink.CustomConntrackFilter
	}{{unix.AF_INET, v4}, {unix.AF_INET6, v6}} {
		if len(fam.filters) == 0 {
			continue
		}
		n, err := n.clear(fam.af, fam.filters)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// clear deletes the matching entries of one family: one dump, then one
// delete per matching entry (ConntrackDeleteFilters). An interrupted dump
// may have missed entries, so it is repeated; entries already deleted no
// longer match, which makes the repeat safe.
func (n *Netlink) clear(af netlink.InetFamily, filters []netlink.CustomConntrackFilter) (int, error) {
	total := 0
	var err error
	for range dumpRetries {
		var deleted uint
		deleted, err = n.h.ConntrackDeleteFilters(netlink.ConntrackTable, af, filters...)
		total += int(deleted)
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return total, fmt.Errorf("deleting conntrack entries (family %d): %w", af, err)
	}
	return total, nil
}

// matcher adapts a Filter to netlink's filter interface. netlink's own
// ConntrackFilter cannot match the reply source port, which ForEndpoint
// needs when two endpoints share an address (host-network pods).
type matcher Filter

func (m matcher) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return Filter(m).Match(entryFromFlow(flow))
}

// entryFromFlow converts netlink's flow to an Entry.
func entryFromFlow(f *netlink.ConntrackFlow) Entry {
	return Entry{
		Proto: model.Protocol(f.Forward.Protocol),
		Orig:  tupleFrom(f.Forward),
		Reply: tupleFrom(f.Reverse),
	}
}

func tupleFrom(t netlink.IPTuple) Tuple {
	return Tuple{
		Src: netip.AddrPortFrom(addrFrom(t.SrcIP), t.SrcPort),
		Dst: netip.AddrPortFrom(addrFrom(t.DstIP), t.DstPort),
	}
}

func addrFrom(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
