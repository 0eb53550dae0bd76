package options

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// portFlag is one of kube-proxy's deprecated --healthz-port and
// --metrics-port, which still appear in older manifests.
type portFlag struct {
	name, bindFlag string
	def            int32
	// server returns the bind address it completes and the field that
	// disables the server.
	server func(s *settings) (addr *string, disabled *bool)
}

var portFlags = []portFlag{
	{name: "healthz-port", bindFlag: "healthz-bind-address", def: 10256,
		server: func(s *settings) (*string, *bool) { return &s.kp.HealthzBindAddress, &s.own.DisableHealthz }},
	{name: "metrics-port", bindFlag: "metrics-bind-address", def: 10249,
		server: func(s *settings) (*string, *bool) { return &s.kp.MetricsBindAddress, &s.own.DisableMetrics }},
}

// addPortFlags registers portFlags, deprecated as in kube-proxy.
func (o *Options) addPortFlags(fs *pflag.FlagSet) {
	if o.ports == nil {
		o.ports = map[string]*int32{}
	}
	for _, f := range portFlags {
		o.ports[f.name] = fs.Int32(f.name, f.def, fmt.Sprintf("The port of a --%s given as a bare IP; 0 disables the server. Ignored with --config or --write-config-to, as in kube-proxy.", f.bindFlag))
		_ = fs.MarkDeprecated(f.name, fmt.Sprintf("use --%s instead", f.bindFlag))
	}
}

// applyPortFlags applies --healthz-port and --metrics-port as kube-proxy
// does (cmd/kube-proxy/app/options.go: Complete, addressFromDeprecatedFlags):
// only without --config and --write-config-to; port 0 disables the server;
// another port is appended to the bind address when it has none
// (proxyutil.AppendPortIfNeeded), so that it never changes an address that
// has a port, the default 0.0.0.0:10256 and 127.0.0.1:10249 included. A
// port that changes nothing gets a warning.
func (o *Options) applyPortFlags(fs *pflag.FlagSet, s *settings) ([]string, error) {
	var warnings []string
	for _, f := range portFlags {
		if !fs.Changed(f.name) {
			continue
		}
		port := *o.ports[f.name]
		if port < 0 || port > 65535 {
			return warnings, fmt.Errorf("invalid --%s %d: want 0 (disabled) to 65535", f.name, port)
		}
		if o.ConfigFile != "" || o.writeConfigTo != "" {
			warnings = append(warnings, fmt.Sprintf("flag --%s is ignored with --config or --write-config-to, as in kube-proxy; use --%s", f.name, f.bindFlag))
			continue
		}
		addr, disabled := f.server(s)
		if *disabled && port != 0 {
			warnings = append(warnings, fmt.Sprintf("flag --%s=%d is ignored: an empty --%s disables the server", f.name, port, f.bindFlag))
			continue
		}
		if port == 0 {
			*addr, *disabled = "", true
			continue
		}
		ip, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(*addr), "[]"))
		if err != nil { // unset (the default has a port), IP:port, or invalid
			warnings = append(warnings, fmt.Sprintf("flag --%s=%d is ignored: --%s has a port (default %s), and kube-proxy keeps it", f.name, port, f.bindFlag, f.defaultAddress()))
			continue
		}
		*addr = net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	}
	return warnings, nil
}

func (f portFlag) defaultAddress() string {
	if f.name == "healthz-port" {
		return DefaultHealthzBindAddress
	}
	return DefaultMetricsBindAddress
}
