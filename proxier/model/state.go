package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Service is a virtual server together with its real servers.
type Service struct {
	VirtualServer
	// Reals are sorted by RSKey and unique.
	Reals []RealServer
}

// Clone returns a deep copy.
func (s *Service) Clone() *Service {
	c := *s
	c.Reals = slices.Clone(s.Reals)
	return &c
}

// SortReals puts Reals in canonical order. IPVS lists a service's
// destinations newest first, and we add them in order: a dump comes back
// reversed, which costs a pass instead of a sort (a repair cycle at 10,000
// services sorts 10,000 dumps; 8% of the idle CPU in the VM).
func (s *Service) SortReals() {
	cmp := func(a, b RealServer) int { return a.RSKey.Compare(b.RSKey) }
	if slices.IsSortedFunc(s.Reals, cmp) {
		return
	}
	slices.Reverse(s.Reals)
	if !slices.IsSortedFunc(s.Reals, cmp) {
		slices.SortFunc(s.Reals, cmp)
	}
}

// Real returns the real server with the given key, if present.
func (s *Service) Real(k RSKey) (RealServer, bool) {
	i, ok := s.realIndex(k)
	if !ok {
		return RealServer{}, false
	}
	return s.Reals[i], true
}

// realIndex is where the real server with key k is, or would be inserted,
// in the sorted Reals, and whether it is there.
func (s *Service) realIndex(k RSKey) (int, bool) {
	return slices.BinarySearchFunc(s.Reals, k, func(r RealServer, k RSKey) int { return r.RSKey.Compare(k) })
}

// SetReal adds or replaces a real server, keeping Reals sorted: a binary
// search and one insertion, not a sort per real server (a service of
// 10,000 endpoints is recorded one real server at a time).
func (s *Service) SetReal(r RealServer) {
	i, ok := s.realIndex(r.RSKey)
	if ok {
		s.Reals[i] = r
		return
	}
	s.Reals = slices.Insert(s.Reals, i, r)
}

// DeleteReal removes the real server with key k, if there is one.
func (s *Service) DeleteReal(k RSKey) {
	if i, ok := s.realIndex(k); ok {
		s.Reals = slices.Delete(s.Reals, i, i+1)
	}
}

// State is a complete picture of what this project programs on a node: the
// desired state built from Kubernetes objects, or the observed state read
// from the kernel.
type State struct {
	// Services are the IPVS virtual servers with their real servers.
	Services map[VSKey]*Service
	// Addresses are the addresses bound on the dummy interface.
	Addresses map[netip.Addr]struct{}
	// Netfilter is the netfilter intent (sorted).
	Netfilter Netfilter
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Services: map[VSKey]*Service{}, Addresses: map[netip.Addr]struct{}{}}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := NewState()
	for k, v := range s.Services {
		c.Services[k] = v.Clone()
	}
	for a := range s.Addresses {
		c.Addresses[a] = struct{}{}
	}
	c.Netfilter = s.Netfilter
	c.Netfilter.LocalCIDRs = slices.Clone(s.Netfilter.LocalCIDRs)
	c.Netfilter.Ports = slices.Clone(s.Netfilter.Ports)
	c.Netfilter.NodePorts = slices.Clone(s.Netfilter.NodePorts)
	c.Netfilter.Hairpin = slices.Clone(s.Netfilter.Hairpin)
	return c
}

// SortedKeys returns the virtual server keys in canonical order.
func (s *State) SortedKeys() []VSKey {
	keys := make([]VSKey, 0, len(s.Services))
	for k := range s.Services {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareVSKey)
	return keys
}

// SortedAddresses returns the bound addresses in canonical order.
func (s *State) SortedAddresses() []netip.Addr {
	out := make([]netip.Addr, 0, len(s.Addresses))
	for a := range s.Addresses {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// IPVSLines returns the IPVS table in the syntax of `ipvsadm -Sn`: each
// virtual server followed by its real servers, all sorted.
func (s *State) IPVSLines() []string {
	var out []string
	for _, k := range s.SortedKeys() {
		svc := s.Services[k]
		out = append(out, FormatVirtualServer("-A", svc.VirtualServer))
		for _, r := range svc.Reals {
			out = append(out, FormatRealServer("-a", k, r))
		}
	}
	return out
}

// Dump returns the canonical text of the state with the given dummy
// interface name: the format `ipvs-proxy plan` prints.
func (s *State) Dump(dummy string) string {
	var b strings.Builder
	b.WriteString("# ipvs\n")
	for _, l := range s.IPVSLines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "# addresses %s\n", dummy)
	for _, a := range s.SortedAddresses() {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	b.WriteString("# netfilter\n")
	for _, l := range s.Netfilter.Lines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// FormatVirtualServer formats a virtual server as an ipvsadm command with the
// given verb (-A add, -E edit).
func FormatVirtualServer(verb string, v VirtualServer) string {
	l := fmt.Sprintf("%s %s %s -s %s", verb, v.Proto.ipvsadmFlag(), netip.AddrPortFrom(v.Addr, v.Port), v.Scheduler)
	if v.Persistent() {
		l += fmt.Sprintf(" -p %d", v.Timeout)
	}
	if f := SchedFlagNames(v.Scheduler, v.Flags); f != "" {
		l += " -b " + f
	}
	return l
}

// FormatRealServer formats a real server as an ipvsadm command with the given
// verb (-a add, -e edit).
func FormatRealServer(verb string, vs VSKey, r RealServer) string {
	return fmt.Sprintf("%s %s %s -r %s -m -w %d", verb, vs.Proto.ipvsadmFlag(),
		netip.AddrPortFrom(vs.Addr, vs.Port), r.RSKey, r.Weight)
}

// SchedFlagNames names the scheduler flags as ipvsadm prints them: sh-* and
// mh-* for those schedulers, flag-N otherwise; "" when none is set.
func SchedFlagNames(sched string, f SchedFlags) string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch sched {
	case "sh":
		names = [3]string{"sh-fallback", "sh-port", "flag-3"}
	case "mh":
		names = [3]string{"mh-fallback", "mh-port", "flag-3"}
	}
	var out []string
	for i, bit := range []SchedFlags{FlagSched1, FlagSched2, FlagSched3} {
		if f&bit != 0 {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

// Route answers "a new connection to this address:port:protocol goes to
// which backends": the real servers with a non-zero weight, sorted. It
// returns ok=false when no virtual server matches (the packet is not
// balanced by IPVS at all).
func (s *State) Route(k VSKey) (backends []RSKey, ok bool) {
	svc, ok := s.Services[k]
	if !ok {
		return nil, false
	}
	for _, r := range svc.Reals {
		if r.Weight > 0 {
			backends = append(backends, r.RSKey)
		}
	}
	return backends, true
}

// Draining returns the real servers of a virtual server that keep their
// existing connections but take no new ones (weight 0), sorted.
func (s *State) Draining(k VSKey) []RSKey {
	var out []RSKey
	if svc, ok := s.Services[k]; ok {
		for _, r := range svc.Reals {
			if r.Weight == 0 {
				out = append(out, r.RSKey)
			}
		}
	}
	return out
}
