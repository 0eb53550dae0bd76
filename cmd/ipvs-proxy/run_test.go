package main

import (
	"testing"

	"github.com/spf13/pflag"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// TestDaemonConfigIPv6: the daemon is told the node proxies IPv6 when the
// cluster CIDRs or the node IPs have an IPv6 prefix or address, so that
// --init-only and the daemon's start set IPv6 forwarding before any Node is
// read.
func TestDaemonConfigIPv6(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{name: "nothing known", want: false},
		{name: "IPv4 cluster CIDR and node IP", args: []string{"--cluster-cidr=198.18.128.0/17", "--node-ip=198.18.0.5"}, want: false},
		{name: "dual-stack cluster CIDR", args: []string{"--cluster-cidr=198.18.128.0/17,fd00:10:244::/56"}, want: true},
		{name: "IPv6 cluster CIDR", args: []string{"--cluster-cidr=fd00:10:244::/56"}, want: true},
		{name: "IPv6 node IP", args: []string{"--node-ip=198.18.0.5,fd00::5"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o options.Options
			fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
			o.AddDaemonFlags(fs)
			if err := fs.Parse(append([]string{"--hostname-override=node-a"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := o.Complete(fs)
			if err != nil {
				t.Fatal(err)
			}
			d, err := daemonConfig(cfg, reconcile.Owner{})
			if err != nil {
				t.Fatal(err)
			}
			if d.IPv6 != tc.want {
				t.Errorf("IPv6 = %v, want %v", d.IPv6, tc.want)
			}
		})
	}
}

// TestDaemonConfigConfigz: /configz serves the effective configuration with
// the flags laid over the file, under kube-proxy's name with its apiVersion
// and kind, and ours under its group.
func TestDaemonConfigConfigz(t *testing.T) {
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	if err := fs.Parse([]string{"--hostname-override=node-a", "--ipvs-scheduler=wrr", "--metrics-bind-address=127.0.0.1:10249"}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := o.Complete(fs)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemonConfig(cfg, reconcile.Owner{})
	if err != nil {
		t.Fatal(err)
	}
	kp, ok := d.Configz["kubeproxy.config.k8s.io"].(kubeproxy.KubeProxyConfiguration)
	if !ok {
		t.Fatalf("configz has no KubeProxyConfiguration: %v", d.Configz)
	}
	if kp.APIVersion != "kubeproxy.config.k8s.io/v1alpha1" || kp.Kind != "KubeProxyConfiguration" ||
		kp.IPVS.Scheduler != "wrr" || kp.MetricsBindAddress != "127.0.0.1:10249" {
		t.Errorf("configz KubeProxyConfiguration: %s %s scheduler %q metrics %q", kp.APIVersion, kp.Kind, kp.IPVS.Scheduler, kp.MetricsBindAddress)
	}
	ours, ok := d.Configz["ipvs-proxy.io"].(options.IPVSProxyConfiguration)
	if !ok || ours.APIVersion != options.IPVSProxyAPIVersion || ours.Kind != options.IPVSProxyKind {
		t.Errorf("configz IPVSProxyConfiguration: %#v", d.Configz["ipvs-proxy.io"])
	}
}
