package ipvs

import (
	"fmt"
	"strings"
)

// Modules are the kernel modules IPVS mode needs: the core and the
// schedulers most used (any other the kernel offers may be configured, see
// DiscoverSchedulers). The kernel loads a scheduler's module on first use
// when it can; Probe names all of them when IPVS is missing so that one
// message tells the operator what to load.
var Modules = []string{
	"ip_vs",
	"ip_vs_rr",
	"ip_vs_wrr",
	"ip_vs_lc",
	"ip_vs_wlc",
	"ip_vs_sh",
	"ip_vs_mh",
	"nf_conntrack",
}

// unavailable wraps the cause of a failed probe in ErrUnavailable with a
// message naming the modules to load.
func unavailable(cause error) error {
	return fmt.Errorf("%w: %w (load the kernel modules %s, e.g. listed in /etc/modules-load.d)",
		ErrUnavailable, cause, strings.Join(Modules, ", "))
}
