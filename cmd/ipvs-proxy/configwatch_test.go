package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/configwatch/configwatchtest"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
)

// TestConfigWatch: the daemon watches --config from the content it
// completed, and a changed file is accepted only when the same command
// line (klog's -v included) completes with it, as a restart would.
func TestConfigWatch(t *testing.T) {
	const kubeadm = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
	vol := configwatchtest.NewVolume(t, kubeadm)
	args := []string{"--config=" + vol.Path(), "-v=2", "--hostname-override=node-a"}
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := o.Complete(fs)
	if err != nil {
		t.Fatal(err)
	}
	if got := configWatch(&options.Config{}, nil).Watcher; got != nil {
		t.Fatalf("watching %s without --config", got.Path())
	}

	w := configWatch(cfg, args)
	steps := []struct {
		content   string
		want      configwatch.Change
		wantValid string // "" or part of the error
	}{
		{content: kubeadm, want: configwatch.Unchanged},
		{content: kubeadm + "ipvs: {strictARP: true}\n", want: configwatch.Changed},
		{content: kubeadm + "mode: iptables\n", want: configwatch.Changed, wantValid: `unsupported proxy mode "iptables"`},
		{content: "kind: Nonsense\n", want: configwatch.Changed, wantValid: "not a KubeProxyConfiguration"},
	}
	for _, s := range steps {
		vol.Update(s.content)
		got, err := w.Watcher.Poll()
		if err != nil || got != s.want {
			t.Fatalf("after publishing %q: Poll = %v, %v; want %v", s.content, got, err, s.want)
		}
		if got != configwatch.Changed {
			continue
		}
		err = w.Valid()
		if s.wantValid == "" && err != nil || s.wantValid != "" && (err == nil || !strings.Contains(err.Error(), s.wantValid)) {
			t.Errorf("after publishing %q: Valid = %v, want error containing %q", s.content, err, s.wantValid)
		}
	}
}
