//go:build integration

package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// Kustomizations under test, relative to this package's directory.
const (
	baseDir    = "../../manifests"
	kubeadmDir = "../../manifests/overlays/kubeadm"
	// kubeadmObjects is what kubeadm leaves for kube-proxy in kube-system.
	kubeadmObjects = "testdata/kubeadm-kube-proxy.yaml"
)

// rendered is the output of `kubectl kustomize`, decoded.
type rendered struct {
	yaml    []byte
	objects []runtime.Object
}

// kubectl runs the plane's kubectl without a server (kustomize only).
func kubectl(t *testing.T, args ...string) []byte {
	t.Helper()
	apiserver.RequireBinaries(t, apiserver.Kubectl)
	bin, err := apiserver.Binary(apiserver.BinDir(), apiserver.Kubectl)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// render runs `kubectl kustomize dir` and decodes every object.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	out := kubectl(t, "kustomize", dir)
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("decoding kustomize output of %s: %v", dir, err)
	}
	return rendered{yaml: out, objects: objs}
}

// decodeAll decodes a multi-document YAML stream into typed objects.
func decodeAll(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
}

// one returns the only object of type T, failing the test otherwise.
func one[T runtime.Object](t *testing.T, r rendered) T {
	t.Helper()
	var found []T
	for _, o := range r.objects {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, found %d", zero, len(found))
	}
	return found[0]
}

func container(t *testing.T, cs []v1.Container, name string) v1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return v1.Container{}
}

// podFiles materialises what a container would see at its config mounts:
// each ConfigMap volume's data (from the rendered objects or extra) written
// to a directory per mount, and returns mountPath -> directory. Host paths
// (the host's /proc/sys/net) are left out: the options code only names them.
func podFiles(t *testing.T, spec v1.PodSpec, c v1.Container, cms []*v1.ConfigMap) map[string]string {
	t.Helper()
	byName := map[string]*v1.ConfigMap{}
	for _, cm := range cms {
		byName[cm.Name] = cm
	}
	vols := map[string]v1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if ok && v.HostPath != nil {
			continue
		}
		if !ok || v.ConfigMap == nil {
			t.Fatalf("container %s mounts %q, which is not a ConfigMap volume", c.Name, m.Name)
		}
		cm, ok := byName[v.ConfigMap.Name]
		if !ok {
			t.Fatalf("volume %q names ConfigMap %q, which is not among the objects", m.Name, v.ConfigMap.Name)
		}
		dir := t.TempDir()
		for k, val := range cm.Data {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(val), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mounts[m.MountPath] = dir
	}
	return mounts
}

// podArgs returns the container's args as the kubelet would pass them:
// $(NODE_NAME) expanded, and paths under a config mount rewritten to the
// directory podFiles made for it.
func podArgs(c v1.Container, node string, mounts map[string]string) []string {
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		a = strings.ReplaceAll(a, "$(NODE_NAME)", node)
		for mp, dir := range mounts {
			a = strings.ReplaceAll(a, mp+"/", dir+"/")
		}
		out[i] = a
	}
	return out
}

func configMaps(r rendered) []*v1.ConfigMap {
	var out []*v1.ConfigMap
	for _, o := range r.objects {
		if cm, ok := o.(*v1.ConfigMap); ok {
			out = append(out, cm)
		}
	}
	return out
}

// kubeadmConfigMaps reads kubeadm's kube-proxy ConfigMap from testdata.
func kubeadmConfigMaps(t *testing.T) []*v1.ConfigMap {
	t.Helper()
	data, err := os.ReadFile(kubeadmObjects)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(data)
	if err != nil {
		t.Fatal(err)
	}
	return configMaps(rendered{objects: objs})
}
