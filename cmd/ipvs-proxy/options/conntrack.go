package options

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// checkConntrack refuses negative conntrack settings, as kube-proxy's
// validation does (validateKubeProxyConntrackConfiguration); 0 means
// "leave it as-is".
func (c *Config) checkConntrack() error {
	ct := &c.KubeProxy.Conntrack
	var errs []error
	count := func(name string, v *int32) {
		if v != nil && *v < 0 {
			errs = append(errs, fmt.Errorf("invalid %s %d: must be greater than or equal to 0", name, *v))
		}
	}
	count("--conntrack-max-per-core (conntrack.maxPerCore)", ct.MaxPerCore)
	count("--conntrack-min (conntrack.min)", ct.Min)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--conntrack-tcp-timeout-established (conntrack.tcpEstablishedTimeout)", durationOf(ct.TCPEstablishedTimeout)},
		{"--conntrack-tcp-timeout-close-wait (conntrack.tcpCloseWaitTimeout)", durationOf(ct.TCPCloseWaitTimeout)},
		{"--conntrack-udp-timeout (conntrack.udpTimeout)", ct.UDPTimeout.Duration},
		{"--conntrack-udp-timeout-stream (conntrack.udpStreamTimeout)", ct.UDPStreamTimeout.Duration},
	} {
		errs = append(errs, nonNegative(d.name, d.v))
	}
	return errors.Join(errs...)
}

// Conntrack returns the conntrack settings the daemon applies at start, as
// kube-proxy does (sysctl.ConntrackSettings).
func (c *Config) Conntrack() sysctl.Conntrack {
	ct := &c.KubeProxy.Conntrack
	return sysctl.Conntrack{
		MaxPerCore:            int(ptr.Deref(ct.MaxPerCore, 0)),
		Min:                   int(ptr.Deref(ct.Min, 0)),
		TCPEstablishedTimeout: durationOf(ct.TCPEstablishedTimeout),
		TCPCloseWaitTimeout:   durationOf(ct.TCPCloseWaitTimeout),
		TCPBeLiberal:          ct.TCPBeLiberal,
		UDPTimeout:            ct.UDPTimeout.Duration,
		UDPStreamTimeout:      ct.UDPStreamTimeout.Duration,
	}
}

// durationOf returns the optional duration's value, 0 when unset.
func durationOf(d *metav1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.Duration
}
