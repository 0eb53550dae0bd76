package guest

import (
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/ipvs"
)

// Real is a real server as the kernel reports it.
type Real struct {
	Addr     netip.AddrPort
	Weight   int
	Active   int
	Inactive int
}

var (
	ipvsOnce   sync.Once
	ipvsHandle *ipvs.Handle
	ipvsErr    error
)

func handle() (*ipvs.Handle, error) {
	ipvsOnce.Do(func() { ipvsHandle, ipvsErr = ipvs.New("") })
	return ipvsHandle, ipvsErr
}

// findService returns the IPVS service of vip (proto "tcp" or "udp"), or
// nil. It reads the kernel over netlink with moby/ipvs, not through the
// daemon's code.
func findService(vip netip.AddrPort, proto string) (*ipvs.Handle, *ipvs.Service, error) {
	h, err := handle()
	if err != nil {
		return nil, nil, err
	}
	svcs, err := h.GetServices()
	if err != nil {
		return nil, nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	p := protoNumber(proto)
	for _, s := range svcs {
		a, _ := netip.AddrFromSlice(s.Address)
		if s.Protocol == p && s.Port == vip.Port() && a.Unmap() == vip.Addr() && s.FWMark == 0 {
			return h, s, nil
		}
	}
	return h, nil, nil
}

// protoNumber maps "tcp" or "udp" to its IP protocol number.
func protoNumber(proto string) uint16 {
	if proto == "udp" {
		return syscall.IPPROTO_UDP
	}
	return syscall.IPPROTO_TCP
}

// VirtualServer is a virtual server's settings as the kernel reports them.
type VirtualServer struct {
	Scheduler string
	Flags     uint32 // IP_VS_SVC_F_*: 0x1 persistent, 0x8 sched1 (sh/mh fallback)
	Timeout   uint32 // persistence, in seconds
}

// Service returns the settings of the virtual server vip, and whether it
// exists.
func Service(vip netip.AddrPort, proto string) (VirtualServer, bool, error) {
	_, s, err := findService(vip, proto)
	if err != nil || s == nil {
		return VirtualServer{}, false, err
	}
	return VirtualServer{Scheduler: s.SchedName, Flags: s.Flags, Timeout: s.Timeout}, true, nil
}

// Reals returns the real servers of virtual server vip (proto "tcp" or
// "udp") sorted by address, and whether the virtual server exists.
func Reals(vip netip.AddrPort, proto string) ([]Real, bool, error) {
	h, s, err := findService(vip, proto)
	if err != nil || s == nil {
		return nil, false, err
	}
	dsts, err := h.GetDestinations(s)
	if err != nil {
		return nil, true, fmt.Errorf("listing real servers of %s: %w", vip, err)
	}
	out := make([]Real, 0, len(dsts))
	for _, d := range dsts {
		da, _ := netip.AddrFromSlice(d.Address)
		out = append(out, Real{Addr: netip.AddrPortFrom(da.Unmap(), d.Port), Weight: d.Weight,
			Active: d.ActiveConnections, Inactive: d.InactiveConnections})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Compare(out[j].Addr) < 0 })
	return out, true, nil
}

// Weights returns "ADDR:PORT=WEIGHT ..." for the virtual server, sorted, or
// "absent"; it is what WaitWeights compares.
func Weights(vip netip.AddrPort, proto string) (string, error) {
	reals, ok, err := Reals(vip, proto)
	if err != nil || !ok {
		return "absent", err
	}
	parts := make([]string, len(reals))
	for i, r := range reals {
		parts[i] = fmt.Sprintf("%s=%d", r.Addr, r.Weight)
	}
	return strings.Join(parts, " "), nil
}

// WeightsOf builds the string Weights returns for these real servers, all on
// BackendPort.
func WeightsOf(weights map[netip.Addr]int) string {
	addrs := make([]netip.Addr, 0, len(weights))
	for a := range weights {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = fmt.Sprintf("%s=%d", netip.AddrPortFrom(a, BackendPort), weights[a])
	}
	return strings.Join(parts, " ")
}

// WaitWeights waits until Weights(vip, proto) is want and returns how long
// that took.
func WaitWeights(vip netip.AddrPort, proto, want string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := Eventually(timeout, 20*time.Millisecond, func() (bool, string) {
		got, err := Weights(vip, proto)
		if err != nil {
			return false, err.Error()
		}
		return got == want, got
	})
	if err != nil {
		return 0, fmt.Errorf("IPVS %s %s: want real servers %q: %w", proto, vip, want, err)
	}
	return time.Since(start), nil
}

// Eventually polls cond every interval until it holds or timeout passes; the
// error carries cond's last description of the state.
func Eventually(timeout, interval time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not reached within %v; last state: %s", timeout, state)
		}
		time.Sleep(interval)
	}
}

// Dump returns what the kernel holds, for failure messages: ipvsadm -Ln
// with counters, the IPVS connection table, and the addresses and local
// routes on the dummy interface.
func Dump() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"ipvsadm", "-Ln"},
		{"ipvsadm", "-Lnc"},
		{"ip", "-br", "addr", "show", "dev", "kube-ipvs0"},
		{"ip", "route", "show", "table", "local", "dev", "kube-ipvs0"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	return b.String()
}

// Run runs a command in the guest and returns its combined output.
func Run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// CountServices returns how many IPVS virtual servers the kernel has.
func CountServices() (int, error) {
	h, err := handle()
	if err != nil {
		return 0, err
	}
	svcs, err := h.GetServices()
	return len(svcs), err
}
