//go:build integration

package manifests

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
)

// variant is one way of deploying: a kustomization and the ConfigMaps that
// exist in the cluster besides its own.
type variant struct {
	name     string
	dir      string
	extraCMs func(*testing.T) []*v1.ConfigMap
	// configVolume prefixes the name of the ConfigMap the config file comes
	// from.
	configVolume string
	// handover variants run only on nodes carrying the handover label.
	handover bool
	// dryRun variants run --dry-run, without the host's /proc/sys/net,
	// servers or probes.
	dryRun bool
}

func noCMs(*testing.T) []*v1.ConfigMap { return nil }

var variants = []variant{
	{name: "base", dir: baseDir, extraCMs: noCMs, configVolume: "ipvs-proxy-"},
	{name: "kubeadm", dir: kubeadmDir, extraCMs: kubeadmConfigMaps, configVolume: "kube-proxy"},
	{name: "handover", dir: handoverDir, extraCMs: noCMs, configVolume: "ipvs-proxy-", handover: true},
	{name: "kubeadm-handover", dir: kubeadmHandoverDir, extraCMs: kubeadmConfigMaps, configVolume: "kube-proxy", handover: true},
	{name: "dry-run", dir: dryRunDir, extraCMs: noCMs, configVolume: "ipvs-proxy-dry-run-", dryRun: true},
	{name: "kubeadm-dry-run", dir: kubeadmDryRunDir, extraCMs: kubeadmConfigMaps, configVolume: "kube-proxy", dryRun: true},
}

// TestDaemonSetShape checks the DaemonSet's scheduling, update, probe and
// privilege settings on every variant.
func TestDaemonSetShape(t *testing.T) {
	for _, vr := range variants {
		t.Run(vr.name, func(t *testing.T) {
			r := render(t, vr.dir)
			ds := one[*appsv1.DaemonSet](t, r)
			spec := ds.Spec.Template.Spec
			checkScheduling(t, ds)
			checkLabels(t, ds, vr.dryRun)
			if got := spec.NodeSelector[handoverLabel]; (got == "ipvs-proxy") != vr.handover {
				t.Errorf("nodeSelector %s = %q, handover variant: %v", handoverLabel, got, vr.handover)
			}
			if len(spec.Containers) != 1 || len(spec.InitContainers) > 0 || len(spec.EphemeralContainers) > 0 {
				t.Errorf("want the daemon's container alone, got %d containers and %d init containers",
					len(spec.Containers), len(spec.InitContainers))
			}
			main := container(t, spec.Containers, "ipvs-proxy")
			checkMainPrivileges(t, main)
			checkContainer(t, main)
			checkHostPaths(t, spec, main, vr.dryRun)
			if !slices.ContainsFunc(spec.Volumes, func(v v1.Volume) bool {
				return v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, vr.configVolume)
			}) {
				t.Errorf("no ConfigMap volume named %s*", vr.configVolume)
			}
			checkBinding(t, r, ds)
		})
	}
}

// checkLabels: the pods carry kube-proxy's k8s-app=kube-proxy (monitoring
// selects the node's proxy by it), except the dry run's, which serve no
// metrics; the selector is app.kubernetes.io/name alone (plus the dry run's
// instance), never k8s-app, so it never matches kube-proxy's pods and stays
// what earlier releases applied (a DaemonSet's selector is immutable).
func checkLabels(t *testing.T, ds *appsv1.DaemonSet, dryRun bool) {
	t.Helper()
	want := map[string]string{"app.kubernetes.io/name": "ipvs-proxy"}
	if dryRun {
		want["app.kubernetes.io/instance"] = "dry-run"
	}
	if d := cmp.Diff(want, ds.Spec.Selector.MatchLabels); d != "" || len(ds.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("selector (-want +got):\n%s%v", d, ds.Spec.Selector.MatchExpressions)
	}
	if got, ok := ds.Spec.Template.Labels["k8s-app"]; (got == "kube-proxy") == dryRun || (dryRun && ok) {
		t.Errorf("pod label k8s-app = %q (set: %v), dry run: %v", got, ok, dryRun)
	}
}

// procSysNet is the one host path the daemon mounts: the host's net.*
// sysctls, written with CAP_NET_ADMIN alone (test/manifests/privileges).
const procSysNet = "/proc/sys/net"

// checkHostPaths: the daemon mounts the host's /proc/sys/net read-write,
// outside /proc (runc refuses mount points inside it), and no other host
// path; a dry run, which writes no sysctl, mounts none.
func checkHostPaths(t *testing.T, spec v1.PodSpec, c v1.Container, dryRun bool) {
	t.Helper()
	var hostPaths []v1.Volume
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v)
		}
	}
	if dryRun {
		if len(hostPaths) > 0 {
			t.Errorf("a dry run mounts host paths %+v", hostPaths)
		}
		return
	}
	if len(hostPaths) != 1 || hostPaths[0].HostPath.Path != procSysNet ||
		hostPaths[0].HostPath.Type == nil || *hostPaths[0].HostPath.Type != v1.HostPathDirectory {
		t.Fatalf("want one host path, the directory %s; got %+v", procSysNet, hostPaths)
	}
	m, ok := mountOf(c, hostPaths[0].Name)
	switch {
	case !ok:
		t.Errorf("%s: volume %q not mounted", c.Name, hostPaths[0].Name)
	case m.ReadOnly || m.SubPath != "" || m.MountPropagation != nil:
		t.Errorf("%s: %s mounted %+v, want read-write, whole, without propagation", c.Name, procSysNet, m)
	case m.MountPath == "/proc" || strings.HasPrefix(m.MountPath, "/proc/"):
		t.Errorf("%s: %s mounted at %s, inside /proc", c.Name, procSysNet, m.MountPath)
	}
}

// mountOf returns the container's mount of the named volume.
func mountOf(c v1.Container, volume string) (v1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m, true
		}
	}
	return v1.VolumeMount{}, false
}

// checkContainer checks what every container shares: the node name, the
// image's entrypoint, a read-only root, resource requests.
func checkContainer(t *testing.T, c v1.Container) {
	t.Helper()
	checkNodeName(t, c)
	if len(c.Command) > 0 {
		t.Errorf("%s: command %q overrides the image's entrypoint", c.Name, c.Command)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem not read-only", c.Name)
	}
	if q := c.Resources.Requests; q.Cpu().IsZero() || q.Memory().IsZero() {
		t.Errorf("%s: want cpu and memory requests, got %v", c.Name, q)
	}
}

// checkBinding checks that the DaemonSet runs as the ServiceAccount the
// ClusterRoleBinding gives the ClusterRole to.
func checkBinding(t *testing.T, r rendered, ds *appsv1.DaemonSet) {
	t.Helper()
	role := one[*rbacv1.ClusterRole](t, r)
	sa := one[*v1.ServiceAccount](t, r)
	b := one[*rbacv1.ClusterRoleBinding](t, r)
	if ds.Spec.Template.Spec.ServiceAccountName != sa.Name || ds.Namespace != sa.Namespace {
		t.Errorf("DaemonSet %s/%s runs as %q, the ServiceAccount is %s/%s", ds.Namespace, ds.Name, ds.Spec.Template.Spec.ServiceAccountName, sa.Namespace, sa.Name)
	}
	wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}}
	if diff := cmp.Diff(wantSubj, b.Subjects); diff != "" || b.RoleRef.Name != role.Name || b.RoleRef.Kind != "ClusterRole" {
		t.Errorf("ClusterRoleBinding %+v does not bind %s to %s: %s", b, role.Name, sa.Name, diff)
	}
}

func checkScheduling(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("hostNetwork is not set")
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q", spec.PriorityClassName)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl v1.Toleration) bool {
		return tl.Key == "" && tl.Operator == v1.TolerationOpExists && tl.Effect == ""
	}) {
		t.Errorf("no toleration of every taint in %+v", spec.Tolerations)
	}
	u := ds.Spec.UpdateStrategy
	if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil ||
		u.RollingUpdate.MaxUnavailable.String() != "1" || u.RollingUpdate.MaxSurge.String() != "0" {
		t.Errorf("updateStrategy = %+v, want RollingUpdate with maxUnavailable 1 and maxSurge 0", u)
	}
}

func checkMainPrivileges(t *testing.T, c v1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("main container has no securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("main container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("main container allows privilege escalation")
	}
	want := &v1.Capabilities{Drop: []v1.Capability{"ALL"}, Add: []v1.Capability{"NET_ADMIN"}}
	if diff := cmp.Diff(want, sc.Capabilities); diff != "" {
		t.Errorf("main container capabilities (-want +got):\n%s", diff)
	}
}

func checkNodeName(t *testing.T, c v1.Container) {
	t.Helper()
	if !slices.Contains(c.Args, "--hostname-override=$(NODE_NAME)") {
		t.Errorf("%s: args %v do not pass the node name", c.Name, c.Args)
	}
	for _, e := range c.Env {
		if e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			return
		}
	}
	t.Errorf("%s: NODE_NAME does not come from the downward API (spec.nodeName)", c.Name)
}

// TestDaemonArgsAndConfig parses each container's args and its config file
// exactly as the daemon does (cmd/ipvs-proxy/options), so an unknown flag, an
// invalid config field or a setting the daemon would ignore fails here. It
// also ties the pod's numbers to the effective configuration: the probes hit
// the healthz port, the grace period outlasts the lame duck.
func TestDaemonArgsAndConfig(t *testing.T) {
	for _, vr := range variants {
		t.Run(vr.name, func(t *testing.T) {
			r := render(t, vr.dir)
			ds := one[*appsv1.DaemonSet](t, r)
			spec := ds.Spec.Template.Spec
			cms := append(configMaps(r), vr.extraCMs(t)...)

			main := container(t, spec.Containers, "ipvs-proxy")
			cfg := complete(t, podArgs(main, "node-a", podFiles(t, spec, main, cms)))
			if cfg.InitOnly || cfg.Cleanup || cfg.WriteConfigTo != "" || cfg.DryRun != vr.dryRun {
				t.Errorf("the main container does not run the daemon (dry run: %v): %+v", vr.dryRun, cfg)
			}
			if cfg.HostnameOverride() != "node-a" {
				t.Errorf("node name = %q", cfg.HostnameOverride())
			}
			if vr.dryRun {
				if cfg.KubeProxy.HealthzBindAddress != "" || cfg.KubeProxy.MetricsBindAddress != "" || main.LivenessProbe != nil || main.ReadinessProbe != nil {
					t.Errorf("a dry run beside kube-proxy must not serve on its ports: healthz %q, metrics %q, probes %v %v",
						cfg.KubeProxy.HealthzBindAddress, cfg.KubeProxy.MetricsBindAddress, main.LivenessProbe, main.ReadinessProbe)
				}
			} else {
				checkProbes(t, main, cfg)
				checkSysctlRoot(t, spec, main, cfg)
			}
			grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
			if grace <= cfg.LameDuck+2*time.Second {
				t.Errorf("terminationGracePeriodSeconds %v does not outlast the lame duck %v", grace, cfg.LameDuck)
			}
			if cfg.KubeProxy.Mode != options.ModeIPVS {
				t.Errorf("mode = %q", cfg.KubeProxy.Mode)
			}
		})
	}
}

// checkSysctlRoot: the daemon writes its sysctls under --sysctl-root, whose
// net/ is the host's /proc/sys/net mount.
func checkSysctlRoot(t *testing.T, spec v1.PodSpec, c v1.Container, cfg *options.Config) {
	t.Helper()
	if cfg.SysctlRoot == options.DefaultSysctlRoot {
		t.Fatalf("--sysctl-root is %s: the container's own /proc/sys is read-only", cfg.SysctlRoot)
	}
	for _, v := range spec.Volumes {
		if v.HostPath == nil || v.HostPath.Path != procSysNet {
			continue
		}
		if m, ok := mountOf(c, v.Name); !ok || m.MountPath != cfg.SysctlRoot+"/net" || m.ReadOnly {
			t.Errorf("--sysctl-root %s: want %s mounted read-write at %s/net, got %+v", cfg.SysctlRoot, procSysNet, cfg.SysctlRoot, m)
		}
		return
	}
	t.Errorf("--sysctl-root %s, but no %s volume", cfg.SysctlRoot, procSysNet)
}

// complete parses args with the daemon's flag set and completes the
// configuration; any warning is a failure too.
func complete(t *testing.T, args []string) *options.Config {
	t.Helper()
	var o options.Options
	fs := pflag.NewFlagSet("ipvs-proxy", pflag.ContinueOnError)
	o.AddDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("args %v: %v", args, err)
	}
	cfg, warnings, err := o.Complete(fs)
	if err != nil {
		t.Fatalf("args %v: %v", args, err)
	}
	if len(warnings) > 0 {
		t.Errorf("args %v: warnings %q", args, warnings)
	}
	return cfg
}

func checkProbes(t *testing.T, c v1.Container, cfg *options.Config) {
	t.Helper()
	_, port, err := net.SplitHostPort(cfg.KubeProxy.HealthzBindAddress)
	if err != nil {
		t.Fatalf("healthzBindAddress %q: %v", cfg.KubeProxy.HealthzBindAddress, err)
	}
	for _, p := range []struct {
		name  string
		probe *v1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != port {
			t.Errorf("%s probe: %s on port %s, want %s on %s", p.name, g.Path, g.Port.String(), p.path, port)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p v1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == port }) {
		t.Errorf("the healthz port %s is not declared in %+v", port, c.Ports)
	}
}

// TestClusterRoleIsExact pins the ClusterRole to what the daemon uses.
func TestClusterRoleIsExact(t *testing.T) {
	r := render(t, baseDir)
	role := one[*rbacv1.ClusterRole](t, r)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if diff := cmp.Diff(want, role.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
}
