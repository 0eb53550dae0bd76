package options

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestFeatureGates(t *testing.T) {
	tests := []struct {
		name         string
		config       string // configuration text
		args         []string
		wantDrain    bool
		wantSched    bool
		wantSet      map[string]bool // KubeProxy.FeatureGates
		wantWarnings []string
	}{
		{name: "defaults: both Beta gates on", wantDrain: true, wantSched: true},
		{name: "both off on the command line", args: []string{"--feature-gates=NotReadyDrain=false,ServiceSchedulerAnnotations=false"},
			wantSet: map[string]bool{"NotReadyDrain": false, "ServiceSchedulerAnnotations": false}},
		{name: "repeated flag", args: []string{"--feature-gates=NotReadyDrain=false", "--feature-gates=ServiceSchedulerAnnotations=false"},
			wantSet: map[string]bool{"NotReadyDrain": false, "ServiceSchedulerAnnotations": false}},
		{name: "AllBeta=false turns every Beta gate off", args: []string{"--feature-gates=AllBeta=false"},
			wantSet: map[string]bool{"AllBeta": false}},
		{name: "AllBeta=false with one gate back on", args: []string{"--feature-gates=AllBeta=false,NotReadyDrain=true"},
			wantDrain: true, wantSet: map[string]bool{"AllBeta": false, "NotReadyDrain": true}},
		{name: "from the file", config: header + "featureGates: {NotReadyDrain: false}\n",
			wantSched: true, wantSet: map[string]bool{"NotReadyDrain": false}},
		{name: "the flag overrides the file", config: header + "featureGates: {NotReadyDrain: false, ServiceSchedulerAnnotations: false}\n",
			args: []string{"--feature-gates=NotReadyDrain=true"}, wantDrain: true,
			wantSet: map[string]bool{"NotReadyDrain": true, "ServiceSchedulerAnnotations": false}},
		{name: "kube-proxy's gates in the file are ignored with a warning",
			config:    header + "featureGates: {NFTablesProxyMode: true, ServiceSchedulerAnnotations: false}\n",
			wantDrain: true, wantSet: map[string]bool{"ServiceSchedulerAnnotations": false},
			wantWarnings: []string{"config: feature gate NFTablesProxyMode is not one of ipvs-proxy's (AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations); ignored"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := completeDaemon(t, configArgs(t, "", tc.config, tc.args)...)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if cfg.NotReadyDrain != tc.wantDrain || cfg.FeatureGates.Enabled(NotReadyDrain) != tc.wantDrain {
				t.Errorf("NotReadyDrain = %v (gate %v), want %v", cfg.NotReadyDrain, cfg.FeatureGates.Enabled(NotReadyDrain), tc.wantDrain)
			}
			if got := !cfg.Proxier().DisableSchedulerAnnotations; got != tc.wantSched {
				t.Errorf("scheduler annotations enabled = %v, want %v", got, tc.wantSched)
			}
			if diff := cmp.Diff(tc.wantSet, cfg.KubeProxy.FeatureGates); diff != "" {
				t.Errorf("KubeProxy.FeatureGates (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFeatureGateErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown gate", args: []string{"--feature-gates=NFTablesProxyMode=true"},
			wantErr: `--feature-gates: unknown feature gate "NFTablesProxyMode": known gates are AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations`},
		{name: "unknown gate beside a known one", args: []string{"--feature-gates=NotReadyDrain=false,Bogus=true"}, wantErr: `unknown feature gate "Bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := completeDaemon(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Complete error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestFeatureGatesInPlan checks that plan honours --feature-gates too.
func TestFeatureGatesInPlan(t *testing.T) {
	cfg, _, err := complete(t, "--feature-gates=ServiceSchedulerAnnotations=false")
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if !cfg.Proxier().DisableSchedulerAnnotations {
		t.Error("plan ignored --feature-gates=ServiceSchedulerAnnotations=false")
	}
}

func TestFeatureGatesHelpListsEveryGate(t *testing.T) {
	var s settings
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	featureGatesFlag().register(fs, &s)
	help := fs.Lookup("feature-gates").Usage
	for _, want := range []string{"NotReadyDrain=true|false (BETA - default=true)", "ServiceSchedulerAnnotations=true|false (BETA - default=true)"} {
		if !strings.Contains(help, want) {
			t.Errorf("--feature-gates help lacks %q:\n%s", want, help)
		}
	}
}
