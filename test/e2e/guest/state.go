package guest

import (
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"syscall"

	"github.com/moby/ipvs"
)

// KernelState is what a proxy programs in the node's kernel, without the
// counters that traffic moves: every IPVS virtual server with its settings
// and real servers, the addresses bound on the dummy interface and the whole
// nftables ruleset. Two KernelStates compare equal (String) exactly when no
// proxy changed anything between the readings.
type KernelState struct {
	// VirtualServers are sorted by Key.
	VirtualServers []VirtualServerState
	// Bound are the addresses bound on kube-ipvs0, as addresses or local
	// routes (BoundAddrs), sorted.
	Bound []netip.Addr
	// Nftables is `nft -s list ruleset` (stateless: no counter values).
	Nftables string
}

// VirtualServerState is one IPVS virtual server as the kernel reports it.
type VirtualServerState struct {
	Key       string // "TCP 198.19.x.y:80" or "FWM 5"
	Scheduler string
	// Options are the flags, persistence timeout, netmask and persistence
	// engine, printed.
	Options string
	// Reals are "ADDR:PORT weight=W fwd=F thresholds=U/L", sorted.
	Reals []string
}

// ReadKernelState reads the kernel over netlink (moby/ipvs, netlink) and
// with the nft command, not through the daemon's code.
func ReadKernelState() (KernelState, error) {
	var st KernelState
	h, err := handle()
	if err != nil {
		return st, err
	}
	svcs, err := h.GetServices()
	if err != nil {
		return st, fmt.Errorf("listing IPVS services: %w", err)
	}
	for _, s := range svcs {
		vs, err := virtualServerState(h, s)
		if err != nil {
			return st, err
		}
		st.VirtualServers = append(st.VirtualServers, vs)
	}
	sort.Slice(st.VirtualServers, func(i, j int) bool { return st.VirtualServers[i].Key < st.VirtualServers[j].Key })
	if st.Bound, err = BoundAddrs(); err != nil {
		return st, err
	}
	out, err := exec.Command("nft", "-s", "list", "ruleset").CombinedOutput()
	if err != nil {
		return st, fmt.Errorf("nft -s list ruleset: %w: %s", err, out)
	}
	st.Nftables = string(out)
	return st, nil
}

func virtualServerState(h *ipvs.Handle, s *ipvs.Service) (VirtualServerState, error) {
	a, _ := netip.AddrFromSlice(s.Address)
	vs := VirtualServerState{
		Key:       fmt.Sprintf("%s %s", protoName(s.Protocol), netip.AddrPortFrom(a.Unmap(), s.Port)),
		Scheduler: s.SchedName,
		Options:   fmt.Sprintf("flags=%#x timeout=%d netmask=%#x pe=%q", s.Flags, s.Timeout, s.Netmask, s.PEName),
	}
	if s.FWMark != 0 {
		vs.Key = fmt.Sprintf("FWM %d family=%d", s.FWMark, s.AddressFamily)
	}
	dsts, err := h.GetDestinations(s)
	if err != nil {
		return vs, fmt.Errorf("listing real servers of %s: %w", vs.Key, err)
	}
	for _, d := range dsts {
		da, _ := netip.AddrFromSlice(d.Address)
		vs.Reals = append(vs.Reals, fmt.Sprintf("%s weight=%d fwd=%#x thresholds=%d/%d",
			netip.AddrPortFrom(da.Unmap(), d.Port), d.Weight, d.ConnectionFlags, d.UpperThreshold, d.LowerThreshold))
	}
	sort.Strings(vs.Reals)
	return vs, nil
}

func protoName(p uint16) string {
	switch p {
	case syscall.IPPROTO_TCP:
		return "TCP"
	case syscall.IPPROTO_UDP:
		return "UDP"
	case syscall.IPPROTO_SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto%d", p)
}

// WithScheduler returns a copy of the state in which every virtual server
// has scheduler sched: the state a proxy leaves when only its default
// scheduler changed.
func (s KernelState) WithScheduler(sched string) KernelState {
	out := s
	out.VirtualServers = make([]VirtualServerState, len(s.VirtualServers))
	for i, vs := range s.VirtualServers {
		vs.Scheduler = sched
		out.VirtualServers[i] = vs
	}
	return out
}

// String prints the state, one virtual server and its real servers per
// paragraph, then the addresses and the ruleset.
func (s KernelState) String() string {
	var b strings.Builder
	for _, vs := range s.VirtualServers {
		fmt.Fprintf(&b, "%s %s %s\n", vs.Key, vs.Scheduler, vs.Options)
		for _, r := range vs.Reals {
			fmt.Fprintf(&b, "  -> %s\n", r)
		}
	}
	fmt.Fprintf(&b, "bound on %s: %v\n", DummyInterface, s.Bound)
	b.WriteString(s.Nftables)
	return b.String()
}
