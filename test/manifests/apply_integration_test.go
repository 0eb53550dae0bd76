//go:build integration

package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

const (
	handoverDir        = "../../manifests/overlays/handover"
	kubeadmHandoverDir = "../../manifests/overlays/kubeadm-handover"
	dryRunDir          = "../../manifests/overlays/dry-run"
	kubeadmDryRunDir   = "../../manifests/overlays/kubeadm-dry-run"
	kubeProxyPatch     = "../../manifests/components/handover/kube-proxy-patch.yaml"
	handoverLabel      = "ipvs-proxy.io/proxy"
)

// plane starts an API server with kube-system present and returns it with
// an admin client.
func plane(t *testing.T) (*apiserver.Plane, kubernetes.Interface) {
	t.Helper()
	p := apiserver.ForTest(t, apiserver.Options{})
	c, err := kubernetes.NewForConfig(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceSystem}}
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return p, c
}

// kubectlAdmin runs kubectl against the plane and returns its output.
func kubectlAdmin(t *testing.T, p *apiserver.Plane, args ...string) string {
	t.Helper()
	out, err := p.Kubectl(t.Context(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// TestServerSideDryRun applies every kustomization with --dry-run=server, so
// the real API server validates the objects (schemas, enums, the pod
// security fields) without creating them. The kubeadm variants are applied
// beside kubeadm's own kube-proxy objects, as on a real cluster.
func TestServerSideDryRun(t *testing.T) {
	p, _ := plane(t)
	kubectlAdmin(t, p, "apply", "-f", kubeadmObjects)
	for _, vr := range variants {
		out := kubectlAdmin(t, p, "apply", "-k", vr.dir, "--dry-run=server")
		name := "ipvs-proxy"
		if vr.dryRun {
			name += "-dry-run"
		}
		for _, want := range []string{"serviceaccount/" + name, "clusterrole.rbac.authorization.k8s.io/" + name,
			"clusterrolebinding.rbac.authorization.k8s.io/" + name, "daemonset.apps/" + name} {
			if !strings.Contains(out, want+" created (server dry run)") {
				t.Errorf("%s: %q not created:\n%s", vr.dir, want, out)
			}
		}
	}
}

// TestSelectorUnchanged applies the kubeadm overlay over the DaemonSet
// earlier releases applied (the same without the pods' k8s-app label): the
// API server refuses any change to a DaemonSet's selector, so this fails if
// the label ever goes into the selector. Afterwards the pods carry the label
// and kube-proxy's DaemonSet selector (k8s-app=kube-proxy) matches them, as
// the monitoring selecting kube-proxy's pods does.
func TestSelectorUnchanged(t *testing.T) {
	p, c := plane(t)
	kubectlAdmin(t, p, "apply", "-f", kubeadmObjects)
	const label = "        k8s-app: kube-proxy\n"
	cur := render(t, kubeadmDir)
	if !strings.Contains(string(cur.yaml), label) {
		t.Fatalf("the kubeadm overlay's pods have no k8s-app label:\n%s", cur.yaml)
	}
	before := filepath.Join(t.TempDir(), "before.yaml")
	if err := os.WriteFile(before, []byte(strings.Replace(string(cur.yaml), label, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectlAdmin(t, p, "apply", "-f", before)
	kubectlAdmin(t, p, "apply", "-k", kubeadmDir)
	ds, err := c.AppsV1().DaemonSets("kube-system").Get(t.Context(), "ipvs-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := c.AppsV1().DaemonSets("kube-system").Get(t.Context(), "kube-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.LabelSelectorAsSelector(kp.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("kube-proxy's selector %s does not match our pods' labels %v", sel, ds.Spec.Template.Labels)
	}
}

// TestHandover applies the handover overlay and the kube-proxy patch for real
// and checks that each node label selects exactly one of the two proxies: the
// scheduling rules the DaemonSet controller acts on during the migration.
func TestHandover(t *testing.T) {
	p, c := plane(t)
	kubectlAdmin(t, p, "apply", "-f", kubeadmObjects)
	kubectlAdmin(t, p, "apply", "-k", kubeadmHandoverDir)
	kubectlAdmin(t, p, "-n", "kube-system", "patch", "daemonset", "kube-proxy", "--patch-file", kubeProxyPatch)

	ours := getDaemonSetSpec(t, c, "ipvs-proxy")
	theirs := getDaemonSetSpec(t, c, "kube-proxy")
	for _, tc := range []struct {
		labels          map[string]string
		ours, kubeProxy bool
	}{
		{map[string]string{"kubernetes.io/os": "linux"}, false, true},
		{map[string]string{"kubernetes.io/os": "linux", handoverLabel: "ipvs-proxy"}, true, false},
		{map[string]string{"kubernetes.io/os": "linux", handoverLabel: "kube-proxy"}, false, true},
	} {
		if got := runsOn(ours, tc.labels); got != tc.ours {
			t.Errorf("ipvs-proxy on a node labelled %v: %v, want %v", tc.labels, got, tc.ours)
		}
		if got := runsOn(theirs, tc.labels); got != tc.kubeProxy {
			t.Errorf("kube-proxy on a node labelled %v: %v, want %v", tc.labels, got, tc.kubeProxy)
		}
	}

	// The end of the migration: the plain overlay drops the node selector.
	kubectlAdmin(t, p, "apply", "-k", kubeadmDir)
	if sel := getDaemonSetSpec(t, c, "ipvs-proxy").NodeSelector; !cmp.Equal(sel, map[string]string{"kubernetes.io/os": "linux"}) {
		t.Errorf("after applying the kubeadm overlay, nodeSelector = %v", sel)
	}
	// Rolling back kube-proxy's DaemonSet: remove the affinity the patch added.
	kubectlAdmin(t, p, "-n", "kube-system", "patch", "daemonset", "kube-proxy", "--type=json",
		"-p", `[{"op":"remove","path":"/spec/template/spec/affinity"}]`)
	if a := getDaemonSetSpec(t, c, "kube-proxy").Affinity; a != nil {
		t.Errorf("kube-proxy affinity after rollback: %+v", a)
	}
}

func getDaemonSetSpec(t *testing.T, c kubernetes.Interface, name string) v1.PodSpec {
	t.Helper()
	ds, err := c.AppsV1().DaemonSets("kube-system").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds.Spec.Template.Spec
}

// runsOn evaluates a pod's nodeSelector and required node affinity
// (matchExpressions with In and NotIn, the operators used here) against a
// node's labels.
func runsOn(spec v1.PodSpec, labels map[string]string) bool {
	for k, v := range spec.NodeSelector {
		if labels[k] != v {
			return false
		}
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, labels) {
			return true
		}
	}
	return false
}

func termMatches(term v1.NodeSelectorTerm, labels map[string]string) bool {
	for _, e := range term.MatchExpressions {
		v, has := labels[e.Key]
		in := has && contains(e.Values, v)
		switch e.Operator {
		case v1.NodeSelectorOpIn:
			if !in {
				return false
			}
		case v1.NodeSelectorOpNotIn:
			if in {
				return false
			}
		default:
			panic(fmt.Sprintf("operator %s not evaluated here", e.Operator))
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNoUnprivilegedWritableProcSys records why the daemon writes its
// sysctls through a hostPath mount of /proc/sys/net (--sysctl-root) rather
// than its own /proc/sys: the API server refuses the two pod settings that
// would give an unprivileged container a writable /proc/sys in the host's
// network namespace. procMount: Unmasked (no read-only /proc/sys) requires
// hostUsers: false, and hostUsers: false forbids hostNetwork.
func TestNoUnprivilegedWritableProcSys(t *testing.T) {
	p, _ := plane(t)
	r := render(t, baseDir)
	for _, tc := range []struct {
		name, patch, wantErr string
	}{
		{"unmasked procMount", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ipvs-proxy","namespace":"kube-system"},"spec":{"template":{"spec":{"containers":[{"name":"ipvs-proxy","securityContext":{"procMount":"Unmasked"}}]}}}}`,
			"`hostUsers` must be false to use `Unmasked`"},
		{"user namespace", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ipvs-proxy","namespace":"kube-system"},"spec":{"template":{"spec":{"hostUsers":false,"containers":[{"name":"ipvs-proxy","securityContext":{"procMount":"Unmasked"}}]}}}}`,
			"hostNetwork: Forbidden: when `hostUsers` is false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, data string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("all.yaml", string(r.yaml))
			write("patch.json", tc.patch)
			write("kustomization.yaml", "resources: [all.yaml]\npatches:\n- path: patch.json\n")
			out, err := p.Kubectl(context.Background(), "apply", "-k", dir, "--dry-run=server")
			if err == nil || !strings.Contains(string(out), tc.wantErr) {
				t.Fatalf("want the API server to refuse with %q; err %v, output:\n%s", tc.wantErr, err, out)
			}
		})
	}
}
