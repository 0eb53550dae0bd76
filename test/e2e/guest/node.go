package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
}

// PrepareNode sets the node's routing sysctls.
func PrepareNode() error {
	for name, value := range nodeSysctls {
		if err := WriteSysctl(name, value); err != nil {
			return err
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
