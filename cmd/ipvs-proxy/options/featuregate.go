package options

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/component-base/featuregate"
)

// ipvs-proxy's feature gates, set with --feature-gates or the featureGates
// field of the KubeProxyConfiguration:
//
//	Gate                         Default  Stage  Effect
//	ServiceSchedulerAnnotations  true     Beta   per-service IPVS scheduler annotations
//	NotReadyDrain                true     Beta   drain vanished/not-ready endpoints for up to --drain-timeout
//
// AllAlpha and AllBeta set every gate of that stage, as in Kubernetes.
// kube-proxy's own gates (kubeProxyGates: every Kubernetes gate, which
// kube-proxy v1.37.2 accepts) are accepted and ignored with one warning
// each, on the command line and in a file, so that kube-proxy's command
// lines and ConfigMaps work unchanged. Other unknown names on the command
// line are an error, as in kube-proxy; in a configuration file they are
// ignored with one warning each.
const (
	// ServiceSchedulerAnnotations honours the per-service annotations that
	// choose the IPVS scheduler of a service's virtual servers. Off, every
	// service uses --ipvs-scheduler
	// (proxier.Config.DisableSchedulerAnnotations).
	ServiceSchedulerAnnotations featuregate.Feature = "ServiceSchedulerAnnotations"
	// NotReadyDrain keeps an endpoint that vanished or turned not-ready
	// without terminating (a crashed pod, a dead node) as a real server of
	// weight 0 for up to --drain-timeout, so that its established
	// connections end instead of hanging. Off, such endpoints are removed at
	// once. Terminating endpoints drain either way.
	NotReadyDrain featuregate.Feature = "NotReadyDrain"
)

// FeatureGates are ipvs-proxy's feature gates with their defaults and stages.
var FeatureGates = map[featuregate.Feature]featuregate.FeatureSpec{
	ServiceSchedulerAnnotations: {Default: true, PreRelease: featuregate.Beta},
	NotReadyDrain:               {Default: true, PreRelease: featuregate.Beta},
}

// newFeatureGate returns a gate registry holding FeatureGates at their
// defaults.
func newFeatureGate() featuregate.MutableFeatureGate {
	fg := featuregate.NewFeatureGate()
	if err := fg.Add(FeatureGates); err != nil {
		panic(err) // a static, well-formed table cannot fail
	}
	return fg
}

// knownGates returns the names --feature-gates accepts, sorted.
func knownGates() []string {
	names := []string{"AllAlpha", "AllBeta"}
	for name := range maps.Keys(FeatureGates) {
		names = append(names, string(name))
	}
	slices.Sort(names)
	return names
}

// resolveGates settles the feature gates. fromFile are the file's gates,
// of which unknown names are dropped with a warning; fromFlags are
// --feature-gates, where an unknown name is an error unless it is
// kube-proxy's. The result is the gate registry and the gates explicitly
// set, flags over file.
func resolveGates(fromFile, fromFlags map[string]bool) (featuregate.FeatureGate, map[string]bool, []string, error) {
	known := knownGates()
	var warnings []string
	set := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(fromFile)) {
		switch {
		case slices.Contains(known, name):
			set[name] = fromFile[name]
		case isKubeProxyGate(name):
			warnings = append(warnings, kubeProxyGateWarning("config: featureGates", name, fromFile[name]))
		default:
			warnings = append(warnings, fmt.Sprintf("config: feature gate %s is not one of ipvs-proxy's (%s); ignored", name, strings.Join(known, ", ")))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fromFlags)) {
		switch {
		case slices.Contains(known, name):
			set[name] = fromFlags[name]
		case isKubeProxyGate(name):
			warnings = append(warnings, kubeProxyGateWarning("--feature-gates", name, fromFlags[name]))
		default:
			return nil, nil, warnings, fmt.Errorf("--feature-gates: unknown feature gate %q: known gates are %s (and kube-proxy's, ignored)", name, strings.Join(known, ", "))
		}
	}
	fg := newFeatureGate()
	if err := fg.SetFromMap(set); err != nil {
		return nil, nil, warnings, fmt.Errorf("feature gates: %w", err)
	}
	if len(set) == 0 {
		set = nil
	}
	return fg, set, warnings, nil
}

// isKubeProxyGate reports whether kube-proxy v1.37.2 accepts the gate name.
func isKubeProxyGate(name string) bool {
	_, found := slices.BinarySearch(kubeProxyGates, name)
	return found
}

func kubeProxyGateWarning(where, name string, value bool) string {
	return fmt.Sprintf("%s: %s=%t is a kube-proxy feature gate and has no effect on ipvs-proxy; ignored", where, name, value)
}
