//go:build integration

package manifests

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/k8stest"
)

// swapImage is the image the swap test puts into kubeadm's DaemonSet.
const swapImage = "registry.example/ipvs-proxy:v0.1.0"

// TestKubeadmImageSwap runs the migration guide's shortest path: on
// kubeadm's own kube-proxy objects, `kubectl set image` changes the
// DaemonSet's image and nothing else, and the unchanged command then runs
// ipvs-proxy: its first element is the image's kube-proxy path
// (TestImageArchive proves that path runs the binary) and the rest, with
// kubeadm's config.conf, is accepted by the daemon's own option parsing
// without a warning. kubeadm's container is privileged, which is why the
// daemon may write its sysctls under the default --sysctl-root, /proc/sys.
func TestKubeadmImageSwap(t *testing.T) {
	p, c := plane(t)
	kubectlAdmin(t, p, "apply", "-f", kubeadmObjects)
	before := getDaemonSet(t, c, "kube-proxy")
	kubectlAdmin(t, p, "-n", "kube-system", "set", "image", "daemonset/kube-proxy", "kube-proxy="+swapImage)
	after := getDaemonSet(t, c, "kube-proxy")

	want := before.Spec.Template.DeepCopy()
	want.Spec.Containers[0].Image = swapImage
	if diff := cmp.Diff(want, &after.Spec.Template); diff != "" {
		t.Errorf("set image changed more than the image (-want +got):\n%s", diff)
	}

	spec := after.Spec.Template.Spec
	main := container(t, spec.Containers, "kube-proxy")
	if len(main.Command) == 0 || main.Command[0] != kubeProxyPath {
		t.Fatalf("kubeadm's command %q does not start with %s, the path the image provides", main.Command, kubeProxyPath)
	}
	// The kubelet runs command followed by args; podArgs rewrites Args.
	run := main
	run.Args = append(append([]string{}, main.Command[1:]...), main.Args...)
	cfg := complete(t, podArgs(run, "node-a", podFiles(t, spec, run, kubeadmConfigMaps(t))))
	if cfg.HostnameOverride() != "node-a" || cfg.KubeProxy.Mode != options.ModeIPVS || cfg.DryRun || cfg.InitOnly || cfg.Cleanup {
		t.Errorf("kubeadm's command does not run the daemon for node-a in IPVS mode: %+v", cfg)
	}
	if cfg.SysctlRoot != options.DefaultSysctlRoot {
		t.Errorf("--sysctl-root %s, want the default %s", cfg.SysctlRoot, options.DefaultSysctlRoot)
	}
	if sc := main.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Errorf("kubeadm's container is not privileged (%+v): the daemon could not write /proc/sys", sc)
	}
}

// getDaemonSet reads a DaemonSet of kube-system.
func getDaemonSet(t *testing.T, c kubernetes.Interface, name string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := c.AppsV1().DaemonSets("kube-system").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestNodeProxierRoleIsEnough: after the image swap the daemon runs as
// kubeadm's kube-proxy service account, which kubeadm binds to the
// bootstrap ClusterRole system:node-proxier (ClusterRoleBinding
// kubeadm:node-proxier) and to nothing of ours. Bound the same way, the
// daemon converges and writes its Warning events.
func TestNodeProxierRoleIsEnough(t *testing.T) {
	p, admin := plane(t)
	kubectlAdmin(t, p, "apply", "-f", kubeadmObjects)
	kubectlAdmin(t, p, "create", "clusterrolebinding", "kubeadm:node-proxier",
		"--clusterrole=system:node-proxier", "--serviceaccount=kube-system:kube-proxy")
	setUpCluster(t, admin)
	k := startDaemon(t, userConfig(p.Config(), "system:serviceaccount:kube-system:kube-proxy"))

	svc := createService(t, admin, k8stest.Service("shop", "web"))
	applySlice(t, admin, k8stest.Slice("shop", "web", "web-1", []discovery.Endpoint{k8stest.Endpoint("198.18.10.1")}))
	k.ExpectReals(t, tcpKey(svc.Spec.ClusterIP, 80), "198.18.10.1:8080 1")
	createService(t, admin, k8stest.Service("shop", "bad", k8stest.Annotate("ipvs-proxy.io/scheduler", "fastest")))
	waitEvent(t, admin, "bad", "fastest", 1)
}
