package options

import (
	"net/netip"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"
)

// Defaults of the settings a configuration file leaves unset. Those of
// kube-proxy's fields are kube-proxy's defaults, except
// DefaultMinSyncPeriod.
const (
	// ModeIPVS is the only proxy mode ipvs-proxy implements.
	ModeIPVS = "ipvs"

	DefaultContentType = "application/vnd.kubernetes.protobuf"
	DefaultQPS         = float32(5)
	DefaultBurst       = int32(10)

	DefaultHealthzPort        = "10256"
	DefaultMetricsPort        = "10249"
	DefaultHealthzBindAddress = "0.0.0.0:" + DefaultHealthzPort
	DefaultMetricsBindAddress = "127.0.0.1:" + DefaultMetricsPort

	DefaultSyncPeriod = 30 * time.Second
	// DefaultRepairPeriod is the period of the full read-back of IPVS and
	// the dummy interface when ipvs.syncPeriod is not set (Config.RepairPeriod).
	// kube-proxy's IPVS mode re-reads everything every 30 s; reading back
	// 10,000 services and 100,000 real servers costs about 2-3 s of CPU in
	// the test VM, so every 30 s it cost more than the rest of the idle
	// daemon together (docs/performance.md). Half an hour keeps it at
	// about 0.1 s of CPU per minute per 10,000 services and is twice as
	// often as kube-proxy's nftables mode's full resync (an hour). The cheap
	// checks (nftables generation, sysctls) still run every ipvs.syncPeriod.
	DefaultRepairPeriod = 30 * time.Minute
	// DefaultMinSyncPeriod is 1s where kube-proxy's IPVS mode has 0: see the
	// help of --ipvs-min-sync-period.
	DefaultMinSyncPeriod = time.Second

	// kube-proxy's conntrack defaults
	// (pkg/proxy/apis/config/v1alpha1/defaults.go).
	DefaultConntrackMaxPerCore            = int32(32 * 1024)
	DefaultConntrackMin                   = int32(128 * 1024)
	DefaultConntrackTCPEstablishedTimeout = 24 * time.Hour
	DefaultConntrackTCPCloseWaitTimeout   = time.Hour

	DefaultDummyInterface = "kube-ipvs0"
	// DefaultSysctlRoot is where the kernel exposes its parameters.
	DefaultSysctlRoot = "/proc/sys"
	// DefaultNodePortRange is kube-apiserver's default
	// --service-node-port-range.
	DefaultNodePortRange     = "30000-32767"
	DefaultDrainTimeout      = 10 * time.Second
	DefaultDrainPollInterval = 2 * time.Second
	// DefaultLameDuck is long enough for a load balancer probing every few
	// seconds to see at least one failed health check, and short enough to
	// stay well inside Kubernetes' default 30s termination grace period and
	// keep rollouts of the DaemonSet quick: while the process restarts the
	// kernel keeps forwarding, so the lame duck only matters when the node
	// itself goes away.
	DefaultLameDuck = 5 * time.Second
	// DefaultMasqueradeBit is kube-proxy's iptables.masqueradeBit default.
	DefaultMasqueradeBit int32 = 14
)

// applyDefaults fills the fields s leaves unset, but for the servers' (see
// applyServerDefaults). A zero field of the
// KubeProxyConfiguration means "unset", as in kube-proxy: kubeadm writes
// 0s and "" for every field it does not set.
func applyDefaults(s *settings) {
	kp := &s.kp
	kp.TypeMeta = metav1.TypeMeta{APIVersion: kubeproxy.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"}
	s.own.TypeMeta = metav1.TypeMeta{APIVersion: IPVSProxyAPIVersion, Kind: IPVSProxyKind}
	if kp.Mode == "" {
		kp.Mode = ModeIPVS
	}
	if kp.BindAddress == "" {
		kp.BindAddress = "0.0.0.0"
	}
	defaultString(&kp.ClientConnection.ContentType, DefaultContentType)
	if kp.ClientConnection.QPS == 0 {
		kp.ClientConnection.QPS = DefaultQPS
	}
	if kp.ClientConnection.Burst == 0 {
		kp.ClientConnection.Burst = DefaultBurst
	}
	if kp.IPVS.SyncPeriod.Duration == 0 {
		kp.IPVS.SyncPeriod.Duration = DefaultSyncPeriod
	}
	if kp.IPVS.MinSyncPeriod.Duration == 0 {
		kp.IPVS.MinSyncPeriod.Duration = DefaultMinSyncPeriod
	}
	if kp.IPTables.MasqueradeBit == nil {
		kp.IPTables.MasqueradeBit = ptr.To(DefaultMasqueradeBit)
	}
	applyConntrackDefaults(&kp.Conntrack)
	defaultString(&s.own.DummyInterface, DefaultDummyInterface)
	defaultString(&s.own.NodePortRange, DefaultNodePortRange)
	defaultString(&s.own.SysctlRoot, DefaultSysctlRoot)
	defaultDuration(&s.own.DrainTimeout, DefaultDrainTimeout)
	defaultDuration(&s.own.DrainPollInterval, DefaultDrainPollInterval)
	defaultDuration(&s.own.LameDuckDuration, DefaultLameDuck)
}

// applyConntrackDefaults fills the conntrack fields left null, as kubeadm's
// config.conf leaves all four; 0 is a value ("leave it as-is").
func applyConntrackDefaults(c *kubeproxy.KubeProxyConntrackConfiguration) {
	if c.MaxPerCore == nil {
		c.MaxPerCore = ptr.To(DefaultConntrackMaxPerCore)
	}
	if c.Min == nil {
		c.Min = ptr.To(DefaultConntrackMin)
	}
	defaultDuration(&c.TCPEstablishedTimeout, DefaultConntrackTCPEstablishedTimeout)
	defaultDuration(&c.TCPCloseWaitTimeout, DefaultConntrackTCPCloseWaitTimeout)
}

// applyServerDefaults fills the health and metrics bind addresses left
// unset once the flags are applied: their defaults depend on the final
// bindAddress (IPv6 servers for an IPv6 bindAddress, as in kube-proxy), and
// an address disabled by an empty flag or by the file's disableHealthz or
// disableMetrics stays empty.
func applyServerDefaults(s *settings) {
	kp := &s.kp
	healthz, metrics := DefaultHealthzBindAddress, DefaultMetricsBindAddress
	if ip, err := netip.ParseAddr(strings.TrimSpace(kp.BindAddress)); err == nil && ip.Is6() && !ip.Is4In6() {
		healthz, metrics = "[::]:"+DefaultHealthzPort, "[::1]:"+DefaultMetricsPort
	}
	if s.own.DisableHealthz {
		kp.HealthzBindAddress = ""
	} else {
		defaultString(&kp.HealthzBindAddress, healthz)
	}
	if s.own.DisableMetrics {
		kp.MetricsBindAddress = ""
	} else {
		defaultString(&kp.MetricsBindAddress, metrics)
	}
}

func defaultString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func defaultDuration(p **metav1.Duration, def time.Duration) {
	if *p == nil {
		*p = &metav1.Duration{Duration: def}
	}
}
