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
		// kube-proxy accepts every Kubernetes gate (hack/kubeproxy-gates.sh
		// lists those of v1.37.2): they are ignored with a warning.
		{name: "kube-proxy's gates in the file are ignored with a warning",
			config:    header + "featureGates: {NFTablesProxyMode: true, ServiceSchedulerAnnotations: false}\n",
			wantDrain: true, wantSet: map[string]bool{"ServiceSchedulerAnnotations": false},
			wantWarnings: []string{"config: featureGates: NFTablesProxyMode=true is a kube-proxy feature gate and has no effect on ipvs-proxy; ignored"}},
		{name: "kube-proxy's gates on the command line are ignored with a warning",
			args:      []string{"--feature-gates=KubeProxyIPVS=true,NotReadyDrain=false,ContextualLogging=false"},
			wantSched: true, wantSet: map[string]bool{"NotReadyDrain": false},
			wantWarnings: []string{
				"--feature-gates: ContextualLogging=false is a kube-proxy feature gate and has no effect on ipvs-proxy; ignored",
				"--feature-gates: KubeProxyIPVS=true is a kube-proxy feature gate and has no effect on ipvs-proxy; ignored",
			}},
		{name: "other names in the file are ignored with a warning",
			config: header + "featureGates: {NoSuchGate: true}\n", wantDrain: true, wantSched: true,
			wantWarnings: []string{"config: feature gate NoSuchGate is not one of ipvs-proxy's (AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations); ignored"}},
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
		{name: "unknown gate", args: []string{"--feature-gates=NoSuchGate=true"},
			wantErr: `--feature-gates: unknown feature gate "NoSuchGate": known gates are AllAlpha, AllBeta, NotReadyDrain, ServiceSchedulerAnnotations (and kube-proxy's, ignored)`},
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

// TestKubeProxyGatesList: the generated list is sorted and unique (isKubeProxyGate
// searches it), and shares no name with ipvs-proxy's gates.
func TestKubeProxyGatesList(t *testing.T) {
	if len(kubeProxyGates) < 200 {
		t.Fatalf("%d kube-proxy gates; kube-proxy v1.37.2 accepts 252", len(kubeProxyGates))
	}
	for i := 1; i < len(kubeProxyGates); i++ {
		if kubeProxyGates[i-1] >= kubeProxyGates[i] {
			t.Errorf("kubeProxyGates not sorted and unique at %q, %q", kubeProxyGates[i-1], kubeProxyGates[i])
		}
	}
	for _, name := range knownGates() {
		if isKubeProxyGate(name) {
			t.Errorf("gate %s is both ipvs-proxy's and kube-proxy's", name)
		}
	}
}
