package options

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"
)

// IPVSProxyConfiguration's apiVersion and kind.
const (
	IPVSProxyAPIVersion = "ipvs-proxy.io/v1alpha1"
	IPVSProxyKind       = "IPVSProxyConfiguration"
)

// IPVSProxyConfiguration holds ipvs-proxy's own settings, those kube-proxy
// has no field for. It is the optional second YAML document of a --config
// file, after the KubeProxyConfiguration:
//
//	apiVersion: kubeproxy.config.k8s.io/v1alpha1
//	kind: KubeProxyConfiguration
//	mode: ipvs
//	...
//	---
//	apiVersion: ipvs-proxy.io/v1alpha1
//	kind: IPVSProxyConfiguration
//	drainTimeout: 10s
//	drainPollInterval: 2s
//	dummyInterface: kube-ipvs0
//	lameDuckDuration: 5s
//	nodePortRange: 30000-32767
//	sysctlRoot: /proc/sys
//	serviceProxyName: ""
//	nodeIPs: null
//	master: ""
//	dryRun: false
//	disableHealthz: false
//	disableMetrics: false
//
// Each field has the flag of the same name (--drain-timeout for
// drainTimeout, --node-ip for nodeIPs), which overrides it. A zero or
// missing field means "not set": the default applies; the durations are
// pointers so that an explicit 0s is a value.
type IPVSProxyConfiguration struct {
	metav1.TypeMeta `json:",inline"`

	// Master is the API server's address, overriding the kubeconfig's
	// (--master).
	Master string `json:"master"`
	// ServiceProxyName selects the services handled: those whose label
	// service.kubernetes.io/service-proxy-name has this value; empty: those
	// without the label (--service-proxy-name).
	ServiceProxyName string `json:"serviceProxyName"`
	// NodeIPs are the node's addresses; empty: the Node's InternalIP
	// addresses (--node-ip).
	NodeIPs []string `json:"nodeIPs"`
	// DummyInterface is the interface service addresses are bound to
	// (--dummy-interface, default kube-ipvs0).
	DummyInterface string `json:"dummyInterface"`
	// NodePortRange is the cluster's NodePort range, "LOW-HIGH": the IPVS
	// virtual servers on node addresses ipvs-proxy owns (--nodeport-range,
	// default 30000-32767).
	NodePortRange string `json:"nodePortRange"`
	// SysctlRoot is the directory holding the kernel parameters, as
	// /proc/sys does (--sysctl-root, default /proc/sys). Only net.*
	// parameters are written there, so a bind of the host's /proc/sys/net at
	// SysctlRoot/net is enough.
	SysctlRoot string `json:"sysctlRoot"`
	// DrainTimeout bounds how long an endpoint that vanished or turned
	// not-ready without terminating drains at weight 0 (--drain-timeout,
	// default 10s).
	DrainTimeout *metav1.Duration `json:"drainTimeout"`
	// DrainPollInterval is how often draining real servers are checked for
	// connections (--drain-poll-interval, default 2s).
	DrainPollInterval *metav1.Duration `json:"drainPollInterval"`
	// LameDuckDuration is how long health checks fail after SIGTERM before
	// the process exits (--lame-duck-duration, default 5s).
	LameDuckDuration *metav1.Duration `json:"lameDuckDuration"`
	// DryRun logs plans and never changes the kernel (--dry-run).
	DryRun bool `json:"dryRun"`
	// DisableHealthz and DisableMetrics turn the health and metrics servers
	// off. They are set by an empty --healthz-bind-address or
	// --metrics-bind-address, because an empty address in a
	// KubeProxyConfiguration means the default.
	DisableHealthz bool `json:"disableHealthz"`
	DisableMetrics bool `json:"disableMetrics"`
}

// writtenHeader starts the file WriteConfig writes.
const writtenHeader = `# The effective configuration of ipvs-proxy, written by --write-config-to.
# Give it back with --config. The first document is kube-proxy's
# (kubeproxy.config.k8s.io/v1alpha1, holding only the fields ipvs-proxy uses);
# the second holds ipvs-proxy's own settings.
`

// WriteConfig writes cfg to the file at path as MarshalConfig formats it.
func WriteConfig(cfg *Config, path string) error {
	data, err := MarshalConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// MarshalConfig returns the effective configuration as two YAML documents:
// cfg.KubeProxy as a KubeProxyConfiguration (kube-proxy's field names), then
// cfg.IPVSProxy as an IPVSProxyConfiguration. Load reads it back to the same
// configuration, without warnings when given the fields cfg was completed
// with.
func MarshalConfig(cfg *Config) ([]byte, error) {
	kp := cfg.KubeProxy
	kp.TypeMeta = metav1.TypeMeta{APIVersion: kubeproxy.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"}
	if cfg.RepairPeriod != kp.IPVS.SyncPeriod.Duration {
		// Unset, which is not the same as its default (Config.RepairPeriod).
		kp.IPVS.SyncPeriod.Duration = 0
	}
	own := cfg.IPVSProxy
	own.TypeMeta = metav1.TypeMeta{APIVersion: IPVSProxyAPIVersion, Kind: IPVSProxyKind}
	first, err := yaml.Marshal(&kp)
	if err != nil {
		return nil, fmt.Errorf("marshal KubeProxyConfiguration: %w", err)
	}
	second, err := yaml.Marshal(&own)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", IPVSProxyKind, err)
	}
	var b bytes.Buffer
	b.WriteString(writtenHeader)
	b.Write(first)
	b.WriteString("---\n")
	b.Write(second)
	return b.Bytes(), nil
}

// parseOwn checks ipvs-proxy's own settings and copies them to c.
func (c *Config) parseOwn() error {
	own := &c.IPVSProxy
	c.Master, c.DummyInterface, c.DryRun = own.Master, own.DummyInterface, own.DryRun
	c.SysctlRoot = filepath.Clean(own.SysctlRoot)
	c.DrainTimeout = own.DrainTimeout.Duration
	c.DrainPollInterval = own.DrainPollInterval.Duration
	c.LameDuck = own.LameDuckDuration.Duration
	errs := []error{
		nonNegative("--drain-timeout (drainTimeout)", c.DrainTimeout),
		positive("--drain-poll-interval (drainPollInterval)", c.DrainPollInterval),
		nonNegative("--lame-duck-duration (lameDuckDuration)", c.LameDuck),
		checkInterfaceName(c.DummyInterface),
		checkSysctlRoot(c.SysctlRoot),
	}
	var err error
	c.NodePortMin, c.NodePortMax, err = parsePortRange(own.NodePortRange)
	return errors.Join(append(errs, err)...)
}

// checkInterfaceName checks name as Linux checks a network interface name.
func checkInterfaceName(name string) error {
	switch {
	case name == "" || len(name) > 15:
		return fmt.Errorf("invalid --dummy-interface (dummyInterface) %q: want 1 to 15 characters", name)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("invalid --dummy-interface (dummyInterface) %q: not a valid interface name", name)
	}
	return nil
}

// checkSysctlRoot accepts an absolute directory path.
func checkSysctlRoot(root string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("invalid --sysctl-root (sysctlRoot) %q: want an absolute path such as /proc/sys", root)
	}
	return nil
}

// parsePortRange parses "LOW-HIGH" or a single port.
func parsePortRange(s string) (lo, hi uint16, err error) {
	bad := func(why string) (uint16, uint16, error) {
		return 0, 0, fmt.Errorf("invalid --nodeport-range (nodePortRange) %q: %s", s, why)
	}
	loS, hiS, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hiS = loS
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(loS), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hiS), 10, 16)
	switch {
	case err1 != nil || err2 != nil || l == 0 || h == 0:
		return bad("want LOW-HIGH with ports 1-65535")
	case l > h:
		return bad("LOW is above HIGH")
	}
	return uint16(l), uint16(h), nil
}

// checkActions rejects action flags that contradict each other.
// --cleanup-kube-proxy alone removes only kube-proxy's leftovers (a node in
// service, after ipvs-proxy took over); with --cleanup it comes after the
// removal of our own state (a drained node).
func (c *Config) checkActions() error {
	cleanup := c.Cleanup || c.CleanupKubeProxy
	switch {
	case cleanup && c.InitOnly:
		return errors.New("--cleanup or --cleanup-kube-proxy and --init-only cannot be combined")
	case c.DryRun && (cleanup || c.InitOnly):
		return errors.New("--dry-run cannot be combined with --cleanup, --cleanup-kube-proxy or --init-only: they only change the kernel")
	}
	return nil
}
