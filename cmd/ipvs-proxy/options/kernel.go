package options

import (
	"os"
	"path/filepath"
	"strings"
)

// KernelIPv6 reports whether this host's kernel has IPv6 enabled, checked
// as kube-proxy checks it (cmd/kube-proxy/app/server_linux.go,
// platformCheckSupported): /proc/net/if_inet6 exists (IPv6 is built in or
// loaded, and not disabled at boot) and net.ipv6.conf.all.disable_ipv6 is
// not 1. Both files show the network namespace of the process, the node's
// with hostNetwork.
func KernelIPv6() bool { return kernelIPv6("/proc") }

// kernelIPv6 is KernelIPv6 with procfs mounted at proc.
func kernelIPv6(proc string) bool {
	if _, err := os.Stat(filepath.Join(proc, "net", "if_inet6")); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(proc, "sys", "net", "ipv6", "conf", "all", "disable_ipv6"))
	// As kube-proxy: only a readable 1 disables.
	return err != nil || strings.TrimSpace(string(b)) != "1"
}
