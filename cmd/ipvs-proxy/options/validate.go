package options

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/addr"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// validate parses and checks the settings and fills the parsed fields of
// c. flagGates are the gates given with --feature-gates. daemon makes a
// proxy mode other than ipvs an error rather than a warning.
func (c *Config) validate(flagGates map[string]bool, daemon bool) ([]string, error) {
	var warnings []string
	addWarnings := func(w []string, err error) error {
		warnings = append(warnings, w...)
		return err
	}
	errs := []error{
		c.parseNodeIPs(),
		addWarnings(c.checkScheduler()),
		addWarnings(c.checkMode(daemon)),
		c.parseBindAddress(),
		c.parseClusterCIDRs(),
	}
	errs = append(errs,
		addWarnings(c.parseDetectLocal()),
		c.parseNodePortAddresses(),
		addWarnings(c.resolveGates(flagGates)),
		c.checkPeriods(),
		c.checkConntrack(),
		c.parseExcludeCIDRs(),
		c.parseServers(),
		c.checkClient(),
		c.checkLogging(),
		c.parseOwn(),
		c.checkActions(),
	)
	return warnings, errors.Join(errs...)
}

func (c *Config) parseNodeIPs() error {
	c.ServiceProxyName = c.IPVSProxy.ServiceProxyName
	var errs []error
	for _, s := range c.IPVSProxy.NodeIPs {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid node IP %q", s))
			continue
		}
		c.NodeIPs = append(c.NodeIPs, ip.Unmap())
	}
	return errors.Join(errs...)
}

// checkScheduler checks that --ipvs-scheduler can name an IPVS scheduler.
// Any scheduler the node's kernel offers is accepted, not a fixed list: the
// daemon checks at start that the kernel has it (daemon.checkSchedulers).
// A name that is not one of mainline Linux's is warned about.
func (c *Config) checkScheduler() ([]string, error) {
	s := c.KubeProxy.IPVS.Scheduler
	switch {
	case s == "" || proxier.ValidScheduler(s):
		return nil, nil
	case !proxier.WellFormedScheduler(s):
		return nil, fmt.Errorf("invalid IPVS scheduler %q (--ipvs-scheduler, ipvs.scheduler): want the name of an IPVS scheduler (of module ip_vs_<name>), such as %s",
			s, strings.Join(proxier.Schedulers, ", "))
	}
	return []string{fmt.Sprintf("config: IPVS scheduler %q is not one of Linux's (%s); the daemon starts only if the node's kernel offers it",
		s, strings.Join(proxier.Schedulers, ", "))}, nil
}

// checkMode accepts the ipvs mode ("" means ipvs). Another mode is an error
// for the daemon; plan, which only prints, warns and goes on.
func (c *Config) checkMode(daemon bool) ([]string, error) {
	m := string(c.KubeProxy.Mode)
	c.KubeProxy.Mode = ModeIPVS
	switch {
	case m == "" || m == ModeIPVS:
		return nil, nil
	case daemon:
		return nil, fmt.Errorf("unsupported proxy mode %q (--proxy-mode or mode in --config): ipvs-proxy implements only %q", m, ModeIPVS)
	default:
		return []string{fmt.Sprintf("config: mode %q ignored: ipvs-proxy always programs IPVS", m)}, nil
	}
}

func (c *Config) parseBindAddress() error {
	s := strings.TrimSpace(c.KubeProxy.BindAddress)
	if s == "" {
		return nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("invalid bind address %q", s)
	}
	if !ip.IsUnspecified() {
		c.BindIP = ip.Unmap()
	}
	return nil
}

func (c *Config) parseClusterCIDRs() error {
	if strings.TrimSpace(c.KubeProxy.ClusterCIDR) == "" {
		return nil
	}
	families := map[bool]bool{}
	for _, s := range strings.Split(c.KubeProxy.ClusterCIDR, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid cluster CIDR %q", s)
		}
		if families[p.Addr().Is4()] {
			return fmt.Errorf("invalid cluster CIDR %q: at most one CIDR per IP family", c.KubeProxy.ClusterCIDR)
		}
		families[p.Addr().Is4()] = true
		c.ClusterCIDRs = append(c.ClusterCIDRs, p.Masked())
	}
	return nil
}

// localModes are kube-proxy's detect-local modes.
var localModes = []string{"ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"}

// parseDetectLocal sets how cluster-local sources are told, as kube-proxy's
// getLocalDetectors (cmd/kube-proxy/app/server_linux.go) does: ClusterCIDR
// (the default) by --cluster-cidr, NodeCIDR by the Node's pod CIDRs, read
// with the Node (Config.Node, proxier.LocalSources), BridgeInterface and
// InterfaceNamePrefix by the input interface, for both families.
func (c *Config) parseDetectLocal() ([]string, error) {
	m := string(c.KubeProxy.DetectLocalMode)
	warnings, err := c.parseMasqueradeBit(m)
	if err != nil {
		return nil, err
	}
	bridge := ifaceSetting{"--pod-bridge-interface (detectLocal.bridgeInterface)", c.KubeProxy.DetectLocal.BridgeInterface}
	prefix := ifaceSetting{"--pod-interface-name-prefix (detectLocal.interfaceNamePrefix)", c.KubeProxy.DetectLocal.InterfaceNamePrefix}
	var used ifaceSetting
	switch {
	case m == "" || m == "ClusterCIDR":
		c.LocalCIDRs = slices.Clone(c.ClusterCIDRs)
	case m == "NodeCIDR":
		c.LocalFromNodePodCIDRs = true
	case m == "BridgeInterface":
		used = bridge
		c.LocalInterface = model.LocalInterface{Name: bridge.value}
	case m == "InterfaceNamePrefix":
		used = prefix
		c.LocalInterface = model.LocalInterface{Name: prefix.value, Prefix: true}
	default:
		return nil, fmt.Errorf("invalid detect-local-mode %q: want one of %s", m, strings.Join(localModes, ", "))
	}
	if used.name != "" {
		if err := used.check(m); err != nil {
			return nil, err
		}
	}
	for _, s := range []ifaceSetting{bridge, prefix} {
		if s.value != "" && s.name != used.name {
			warnings = append(warnings, fmt.Sprintf("config: %s %q is ignored: detect-local-mode is %s", s.name, s.value, cmp.Or(m, "ClusterCIDR")))
		}
	}
	return warnings, nil
}

// ifaceSetting is the interface name or prefix of an interface mode.
type ifaceSetting struct{ name, value string }

// check checks the interface name or prefix of mode: kube-proxy refuses
// an empty one (validateInterface); one longer than a Linux interface name
// (15 bytes) could never match, and is refused here too.
func (s ifaceSetting) check(mode string) error {
	switch {
	case s.value == "":
		return fmt.Errorf("invalid %s: must not be empty with detect-local-mode %s", s.name, mode)
	case len(s.value) > maxIfName:
		return fmt.Errorf("invalid %s %q: longer than an interface name (%d bytes)", s.name, s.value, maxIfName)
	}
	return nil
}

// maxIfName is the longest interface name Linux takes (IFNAMSIZ - 1).
const maxIfName = 15

// parseMasqueradeBit checks iptables.masqueradeBit as kube-proxy does
// (0 to 31) and, for the interface modes, the only ones that use a mark,
// sets MasqueradeMark. A bit other than the default given with another mode
// is warned about.
func (c *Config) parseMasqueradeBit(mode string) ([]string, error) {
	bit := DefaultMasqueradeBit
	if p := c.KubeProxy.IPTables.MasqueradeBit; p != nil {
		bit = *p
	}
	if bit < 0 || bit > 31 {
		return nil, fmt.Errorf("invalid --iptables-masquerade-bit (iptables.masqueradeBit) %d: must be within the range [0, 31]", bit)
	}
	if mode == "BridgeInterface" || mode == "InterfaceNamePrefix" {
		c.MasqueradeMark = 1 << uint(bit)
		return nil, nil
	}
	if bit != DefaultMasqueradeBit {
		return []string{fmt.Sprintf("config: --iptables-masquerade-bit (iptables.masqueradeBit) %d is ignored: only detect-local-mode BridgeInterface and InterfaceNamePrefix use a mark", bit)}, nil
	}
	return nil, nil
}

// parseNodePortAddresses checks nodePortAddresses as kube-proxy validates
// it (pkg/proxy/apis/config/validation, validateKubeProxyNodePortAddress):
// CIDRs and the keywords primary, localhost and all, each keyword once.
// What they select is decided per node (Node, addr.NodePortIPs).
func (c *Config) parseNodePortAddresses() error {
	if _, err := addr.ParseNodePortAddresses(c.KubeProxy.NodePortAddresses, nil); err != nil {
		return fmt.Errorf("invalid --nodeport-addresses (nodePortAddresses): %w", err)
	}
	return nil
}

// resolveGates sets the feature gates: KubeProxy.FeatureGates holds those
// of the file with flagGates (--feature-gates) laid over them.
func (c *Config) resolveGates(flagGates map[string]bool) ([]string, error) {
	fromFile := maps.Clone(c.KubeProxy.FeatureGates)
	for name := range flagGates {
		delete(fromFile, name)
	}
	fg, set, warnings, err := resolveGates(fromFile, flagGates)
	if err != nil {
		return warnings, err
	}
	c.FeatureGates, c.KubeProxy.FeatureGates = fg, set
	c.NotReadyDrain = fg.Enabled(NotReadyDrain)
	return warnings, nil
}

// checkPeriods checks kube-proxy's IPVS periods and timeouts.
func (c *Config) checkPeriods() error {
	ipvs := &c.KubeProxy.IPVS
	errs := []error{
		positive("--ipvs-sync-period (ipvs.syncPeriod)", ipvs.SyncPeriod.Duration),
		positive("--ipvs-min-sync-period (ipvs.minSyncPeriod)", ipvs.MinSyncPeriod.Duration),
		nonNegative("--ipvs-tcp-timeout (ipvs.tcpTimeout)", ipvs.TCPTimeout.Duration),
		nonNegative("--ipvs-tcpfin-timeout (ipvs.tcpFinTimeout)", ipvs.TCPFinTimeout.Duration),
		nonNegative("--ipvs-udp-timeout (ipvs.udpTimeout)", ipvs.UDPTimeout.Duration),
	}
	if ipvs.MinSyncPeriod.Duration > ipvs.SyncPeriod.Duration {
		errs = append(errs, fmt.Errorf("invalid --ipvs-min-sync-period (ipvs.minSyncPeriod) %v: must not exceed --ipvs-sync-period (ipvs.syncPeriod) %v",
			ipvs.MinSyncPeriod.Duration, ipvs.SyncPeriod.Duration))
	}
	return errors.Join(errs...)
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("invalid %s %v: must be greater than 0", name, d)
	}
	return nil
}

func nonNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("invalid %s %v: must not be negative", name, d)
	}
	return nil
}

func (c *Config) parseExcludeCIDRs() error {
	var errs []error
	for _, s := range c.KubeProxy.IPVS.ExcludeCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid --ipvs-exclude-cidrs (ipvs.excludeCIDRs) entry %q: want a CIDR", s))
			continue
		}
		c.ExcludeCIDRs = append(c.ExcludeCIDRs, p.Masked())
	}
	return errors.Join(errs...)
}

// parseServers checks the health and metrics bind addresses and completes
// a bare IP with the default port, as kube-proxy does.
func (c *Config) parseServers() error {
	var errs [2]error
	c.KubeProxy.HealthzBindAddress, errs[0] = hostPort("--healthz-bind-address (healthzBindAddress)", c.KubeProxy.HealthzBindAddress, DefaultHealthzPort)
	c.KubeProxy.MetricsBindAddress, errs[1] = hostPort("--metrics-bind-address (metricsBindAddress)", c.KubeProxy.MetricsBindAddress, DefaultMetricsPort)
	return errors.Join(errs[:]...)
}

// hostPort returns addr as IP:port; "" (the server is disabled) stays "".
func hostPort(name, addr, defaultPort string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return net.JoinHostPort(ip.String(), defaultPort), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, fmt.Errorf("invalid %s %q: want IP:port", name, addr)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return addr, fmt.Errorf("invalid %s %q: %q is not an IP address", name, addr, host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return addr, fmt.Errorf("invalid %s %q: port must be 1-65535", name, addr)
	}
	return addr, nil
}

func (c *Config) checkClient() error {
	cc := &c.KubeProxy.ClientConnection
	var errs []error
	if cc.QPS < 0 {
		errs = append(errs, fmt.Errorf("invalid --kube-api-qps (clientConnection.qps) %v: must not be negative", cc.QPS))
	}
	if cc.Burst < 0 {
		errs = append(errs, fmt.Errorf("invalid --kube-api-burst (clientConnection.burst) %d: must not be negative", cc.Burst))
	}
	if strings.TrimSpace(cc.ContentType) == "" {
		errs = append(errs, errors.New("invalid --kube-api-content-type (clientConnection.contentType): must not be empty"))
	}
	return errors.Join(errs...)
}

// LoggingFormatText is the only log format ipvs-proxy writes.
const LoggingFormatText = "text"

// checkLogging refuses a log format other than text, where kube-proxy
// also offers json (k8s.io/component-base/logs/json): ipvs-proxy does not
// link it, because it would bring go.uber.org/zap, go-logr/zapr and
// go.uber.org/multierr into the binary for an output format, and silently
// writing text where a log pipeline parses JSON would be worse than
// refusing to start.
func (c *Config) checkLogging() error {
	switch f := c.KubeProxy.Logging.Format; f {
	case "", LoggingFormatText:
		return nil
	default:
		return fmt.Errorf("unsupported log format %q (--logging-format, logging.format): ipvs-proxy writes only %q (klog's text); "+
			"remove the flag or set it to text", f, LoggingFormatText)
	}
}
