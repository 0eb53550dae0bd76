// Package options turns ipvs-proxy's command line and a kube-proxy
// configuration file into the settings the proxy core needs.
//
// Both `ipvs-proxy plan` and the daemon register the same kube-proxy-named
// flags with Options.AddFlags and, after parsing, call Options.Complete. It
// reads --config (a KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1,
// such as the config.conf of kubeadm's kube-proxy ConfigMap) when given, lays
// every flag set on the command line over it, and validates the result:
//
//	--config file ─┐
//	               ├─► Complete ─► Config ─┬─► Config.Proxier()       ─► proxier.Config
//	flags changed ─┘                       └─► Config.Node(name, Node) ─► proxier.Node
//
// Fields of the file that the command does not use produce one warning each,
// never an error, so an existing kube-proxy configuration works as it is.
// Values that cannot be right (an unparsable CIDR, an unknown scheduler) are
// errors.
package options

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// Options holds the parsed command line. Register its flags with AddFlags,
// parse, then call Complete.
type Options struct {
	// ConfigFile is --config: a KubeProxyConfiguration to start from.
	ConfigFile string
	// Supported are the configuration fields, as JSON paths such as
	// "ipvs.scheduler", that the command uses; every other field set in the
	// file is reported as unsupported. nil means PlanFields.
	Supported []string

	// flags holds the values of the flags that mirror a configuration
	// field; only those changed on the command line are copied over the file.
	flags            kubeproxy.KubeProxyConfiguration
	nodeIPs          []string
	serviceProxyName string
}

// PlanFields are the KubeProxyConfiguration fields `ipvs-proxy plan` uses.
var PlanFields = []string{
	"hostnameOverride", "bindAddress", "mode", "ipvs.scheduler", "iptables.masqueradeAll",
	"clusterCIDR", "detectLocalMode", "nodePortAddresses",
}

// configFlag is a flag that mirrors a KubeProxyConfiguration field, named as
// kube-proxy names it.
type configFlag struct {
	name     string
	register func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration)
	// override copies the flag's field from src (the flags) to dst (the file).
	override func(dst, src *kubeproxy.KubeProxyConfiguration)
}

// configFlags is the table of kube-proxy flags this package understands.
var configFlags = []configFlag{
	{"hostname-override", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringVar(&c.HostnameOverride, "hostname-override", "", "The name of this node, matched against the Node object and endpoints' nodeName.")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) { dst.HostnameOverride = src.HostnameOverride }},
	{"bind-address", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringVar(&c.BindAddress, "bind-address", "0.0.0.0", "Overrides the node's primary IP of its family (as kube-proxy's --bind-address); 0.0.0.0 and :: mean no override.")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) { dst.BindAddress = src.BindAddress }},
	{"ipvs-scheduler", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringVar(&c.IPVS.Scheduler, "ipvs-scheduler", "", "The default IPVS scheduler: "+strings.Join(Schedulers, ", ")+" (default rr).")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) { dst.IPVS.Scheduler = src.IPVS.Scheduler }},
	{"masquerade-all", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.BoolVar(&c.IPTables.MasqueradeAll, "masquerade-all", false, "Masquerade all traffic sent to service addresses.")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) {
		dst.IPTables.MasqueradeAll = src.IPTables.MasqueradeAll
	}},
	{"cluster-cidr", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringVar(&c.ClusterCIDR, "cluster-cidr", "", "The pod CIDRs, comma-separated (one per IP family); traffic to cluster IPs from elsewhere is masqueraded.")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) { dst.ClusterCIDR = src.ClusterCIDR }},
	{"detect-local-mode", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringVar((*string)(&c.DetectLocalMode), "detect-local-mode", "", "How cluster-local traffic is detected; only ClusterCIDR (the default) is supported.")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) { dst.DetectLocalMode = src.DetectLocalMode }},
	{"nodeport-addresses", func(fs *pflag.FlagSet, c *kubeproxy.KubeProxyConfiguration) {
		fs.StringSliceVar(&c.NodePortAddresses, "nodeport-addresses", nil, "CIDRs of the node addresses NodePorts listen on, or \"primary\" for the node's primary IPs (default all node IPs).")
	}, func(dst, src *kubeproxy.KubeProxyConfiguration) {
		dst.NodePortAddresses = slices.Clone(src.NodePortAddresses)
	}},
}

// AddFlags registers the configuration flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "config", "", "A KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1); flags given on the command line override it.")
	for _, f := range configFlags {
		f.register(fs, &o.flags)
	}
	fs.StringSliceVar(&o.nodeIPs, "node-ip", nil, "The node's addresses (repeatable or comma-separated); default: the Node's InternalIP addresses.")
	fs.StringVar(&o.serviceProxyName, "service-proxy-name", "", "Handle exactly the services whose label service.kubernetes.io/service-proxy-name has this value (default: only services without that label).")
}

// Config is the effective, validated configuration.
type Config struct {
	// KubeProxy is the configuration file with the command-line flags laid
	// over it.
	KubeProxy kubeproxy.KubeProxyConfiguration
	// NodeIPs are the --node-ip addresses (empty: take them from the Node).
	NodeIPs []netip.Addr
	// ServiceProxyName is --service-proxy-name.
	ServiceProxyName string
	// ClusterCIDRs are the parsed clusterCIDR prefixes.
	ClusterCIDRs []netip.Prefix
	// LocalCIDRs are the sources treated as cluster-local: ClusterCIDRs with
	// detectLocalMode ClusterCIDR, none otherwise.
	LocalCIDRs []netip.Prefix
	// BindIP is bindAddress when it names one address (not 0.0.0.0 or ::).
	BindIP netip.Addr
	// NodePortPrimary and NodePortCIDRs are the parsed nodePortAddresses.
	NodePortPrimary bool
	NodePortCIDRs   []netip.Prefix
}

// Complete reads --config when given, applies the flags changed on fs over
// it and validates the result. fs must be the flag set passed to AddFlags,
// already parsed. Warnings name configuration fields that are set but not
// used; the error reports an unreadable file or an invalid value.
func (o *Options) Complete(fs *pflag.FlagSet) (*Config, []string, error) {
	var warnings []string
	var kp kubeproxy.KubeProxyConfiguration
	if o.ConfigFile != "" {
		supported := o.Supported
		if supported == nil {
			supported = PlanFields
		}
		loaded, w, err := LoadFile(o.ConfigFile, supported)
		if err != nil {
			return nil, nil, err
		}
		kp, warnings = *loaded, w
	}
	for _, f := range configFlags {
		if fs.Changed(f.name) {
			f.override(&kp, &o.flags)
		}
	}
	cfg := &Config{KubeProxy: kp, ServiceProxyName: o.serviceProxyName}
	w, err := cfg.validate(o.nodeIPs)
	warnings = append(warnings, w...)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// validate parses and checks the fields the core uses.
func (c *Config) validate(nodeIPs []string) ([]string, error) {
	var warnings []string
	var errs []error
	for _, s := range nodeIPs {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid node IP %q", s))
			continue
		}
		c.NodeIPs = append(c.NodeIPs, ip.Unmap())
	}
	if s := c.KubeProxy.IPVS.Scheduler; s != "" && !slices.Contains(Schedulers, s) {
		errs = append(errs, fmt.Errorf("invalid IPVS scheduler %q: want one of %s", s, strings.Join(Schedulers, ", ")))
	}
	if m := c.KubeProxy.Mode; m != "" && m != "ipvs" {
		warnings = append(warnings, fmt.Sprintf("config: mode %q ignored: ipvs-proxy always programs IPVS", m))
	}
	errs = append(errs, c.parseBindAddress())
	errs = append(errs, c.parseClusterCIDRs())
	w, err := c.parseDetectLocal()
	warnings = append(warnings, w...)
	errs = append(errs, err, c.parseNodePortAddresses())
	return warnings, errors.Join(errs...)
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

// localModes are kube-proxy's detect-local modes; only ClusterCIDR is
// implemented.
var localModes = []string{"ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"}

func (c *Config) parseDetectLocal() ([]string, error) {
	switch m := string(c.KubeProxy.DetectLocalMode); {
	case m == "" || m == "ClusterCIDR":
		c.LocalCIDRs = slices.Clone(c.ClusterCIDRs)
		return nil, nil
	case slices.Contains(localModes, m):
		return []string{fmt.Sprintf("config: detect-local-mode %s is not supported yet; traffic is not classified as cluster-local", m)}, nil
	default:
		return nil, fmt.Errorf("invalid detect-local-mode %q: want one of %s", m, strings.Join(localModes, ", "))
	}
}

func (c *Config) parseNodePortAddresses() error {
	for _, s := range c.KubeProxy.NodePortAddresses {
		s = strings.TrimSpace(s)
		if s == "primary" {
			c.NodePortPrimary = true
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("invalid nodeport address %q: want a CIDR or \"primary\"", s)
		}
		c.NodePortCIDRs = append(c.NodePortCIDRs, p.Masked())
	}
	return nil
}

// Proxier returns the configuration proxier.Build needs.
func (c *Config) Proxier() proxier.Config {
	return proxier.Config{
		Scheduler:        c.KubeProxy.IPVS.Scheduler,
		MasqueradeAll:    c.KubeProxy.IPTables.MasqueradeAll,
		LocalCIDRs:       slices.Clone(c.LocalCIDRs),
		ServiceProxyName: c.ServiceProxyName,
	}
}

// HostnameOverride returns hostnameOverride as kube-proxy normalises it:
// trimmed and lower-cased. "" means not set.
func (c *Config) HostnameOverride() string {
	return strings.ToLower(strings.TrimSpace(c.KubeProxy.HostnameOverride))
}

// Schedulers are the IPVS schedulers a virtual server may use.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh"}
