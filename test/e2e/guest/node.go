package guest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nodeSysctls are what a node's network setup (kubelet, the CNI plugin)
// would have set before kube-proxy runs: the node routes between pods and
// clients.
var nodeSysctls = map[string]string{
	"net.ipv4.ip_forward":                 "1",
	"net.ipv6.conf.all.forwarding":        "1",
	"net.ipv4.conf.all.rp_filter":         "0",
	"net.ipv4.conf.default.rp_filter":     "0",
	"net.ipv6.conf.default.accept_dad":    "0",
	"net.ipv6.conf.default.accept_ra":     "0",
	"net.ipv6.conf.all.keep_addr_on_down": "1",
	// The VM's memory sizes the conntrack table at 8,192 entries, and each
	// IPVS connection holds one (120 s in TIME_WAIT): scenario 7's client,
	// without pause, filled it at its 8,188th request and the next SYN was
	// dropped.
	"net.netfilter.nf_conntrack_max": "262144",
}

// blackholes are the test ranges. The VM's default route leads to qemu's
// user network, which answers connections it will not forward with a reset:
// a packet for a backend whose veth is gone must vanish instead, as it would
// on a real network when a node dies. Bound and connected addresses are more
// specific and win over these routes.
var blackholes = []string{"198.18.0.0/15", "fd00::/8"}

// PrepareNode sets the node's routing sysctls and blackholes the test ranges.
func PrepareNode() error {
	for name, value := range nodeSysctls {
		if err := WriteSysctl(name, value); err != nil {
			return err
		}
	}
	for _, cidr := range blackholes {
		_, dst, _ := net.ParseCIDR(cidr)
		r := &netlink.Route{Dst: dst, Type: unix.RTN_BLACKHOLE}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("adding a blackhole route to %s: %w", cidr, err)
		}
	}
	return nil
}

// WriteSysctl sets one sysctl through /proc/sys.
func WriteSysctl(name, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s=%s: %w", name, value, err)
	}
	return nil
}

// ReadSysctl reads one sysctl.
func ReadSysctl(name string) (string, error) {
	data, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return strings.TrimSpace(string(data)), err
}

// Sysctl sets a per-namespace sysctl (net.*) inside the namespace: files
// under /proc/sys/net belong to the namespace of the thread that opens them.
func (n *Netns) Sysctl(name, value string) error {
	return n.Do(func() error { return WriteSysctl(name, value) })
}
