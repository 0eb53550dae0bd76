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
// Unknown names on the command line are an error; in a configuration file,
// which may be kube-proxy's own with kube-proxy's gates, they are ignored
// with one warning each.
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
// --feature-gates, where an unknown name is an error. The result is the
// gate registry and the gates explicitly set, flags over file.
func resolveGates(fromFile, fromFlags map[string]bool) (featuregate.FeatureGate, map[string]bool, []string, error) {
	known := knownGates()
	var warnings []string
	set := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(fromFile)) {
		if !slices.Contains(known, name) {
			warnings = append(warnings, fmt.Sprintf("config: feature gate %s is not one of ipvs-proxy's (%s); ignored", name, strings.Join(known, ", ")))
			continue
		}
		set[name] = fromFile[name]
	}
	for _, name := range slices.Sorted(maps.Keys(fromFlags)) {
		if !slices.Contains(known, name) {
			return nil, nil, warnings, fmt.Errorf("--feature-gates: unknown feature gate %q: known gates are %s", name, strings.Join(known, ", "))
		}
		set[name] = fromFlags[name]
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
