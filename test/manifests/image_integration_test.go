//go:build integration

package manifests

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const repoRoot = "../.."

// ociDescriptor is the part of an OCI descriptor the checks read.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

// Paths of the binary in the image: the entrypoint, and the command of
// kubeadm's kube-proxy DaemonSet (testdata/kubeadm-kube-proxy.yaml), so
// that changing only that DaemonSet's image runs ipvs-proxy.
const (
	entrypointPath = "/ipvs-proxy"
	kubeProxyPath  = "/usr/local/bin/kube-proxy"
)

// stampedVersion is the version the image test stamps into the binary.
const stampedVersion = "v9.9.9-imagetest"

// TestImageArchive builds the image with hack/image.sh and reads the archive
// back: an OCI layout whose digests hold, named ipvs-proxy:dev, whose config
// runs /ipvs-proxy as root on linux, with one layer holding exactly the
// static binary, stamped with the version, and its kube-proxy path; both
// paths run it.
func TestImageArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the image")
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	cmd := exec.CommandContext(t.Context(), filepath.Join(repoRoot, "hack/image.sh"), out)
	cmd.Env = append(os.Environ(), "IMAGE=ipvs-proxy:dev", "VERSION="+stampedVersion)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/image.sh: %v\n%s", err, log)
	}
	t.Logf("%s", bytes.TrimSpace(log))
	files := untar(t, out)

	var index struct{ Manifests []ociDescriptor }
	decodeJSON(t, files["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(index.Manifests))
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != "docker.io/library/ipvs-proxy:dev" {
		t.Errorf("image name %q", got)
	}
	var manifest struct {
		Config ociDescriptor
		Layers []ociDescriptor
	}
	decodeJSON(t, blob(t, files, index.Manifests[0]), &manifest)
	var config struct {
		OS, Architecture string
		Config           struct {
			Entrypoint, Cmd []string
			User            string
			Labels          map[string]string
		}
	}
	decodeJSON(t, blob(t, files, manifest.Config), &config)
	if config.OS != "linux" || config.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", config.OS, config.Architecture)
	}
	if !slices.Equal(config.Config.Entrypoint, []string{entrypointPath}) || len(config.Config.Cmd) != 0 || config.Config.User != "0:0" {
		t.Errorf("config %+v, want entrypoint %s as 0:0", config.Config, entrypointPath)
	}
	if v := config.Config.Labels["org.opencontainers.image.version"]; v != stampedVersion {
		t.Errorf("label org.opencontainers.image.version = %q, want %q", v, stampedVersion)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(manifest.Layers))
	}
	root := checkLayer(t, blob(t, files, manifest.Layers[0]))
	checkBothPathsRun(t, root)
	if ds := dockerfileEntrypoint(t); !slices.Equal(ds, config.Config.Entrypoint) {
		t.Errorf("Dockerfile ENTRYPOINT %q differs from the archive's %q", ds, config.Config.Entrypoint)
	}
}

// checkLayer checks the layer holds /ipvs-proxy (root-owned, 0755, a
// static executable), the directories of the kube-proxy path and, at that
// path, a relative symbolic link to /ipvs-proxy; nothing else. It unpacks
// those into a directory and returns it.
func checkLayer(t *testing.T, gz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner %d:%d", h.Name, h.Uid, h.Gid)
		}
		dst := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if h.Mode&0o777 != 0o755 {
				t.Errorf("%s: mode %o", h.Name, h.Mode)
			}
			mkdir(t, dst)
		case tar.TypeSymlink:
			if target := path.Join(path.Dir(h.Name), h.Linkname); path.IsAbs(h.Linkname) || "/"+target != entrypointPath {
				t.Errorf("%s links to %q, want a relative link to %s", h.Name, h.Linkname, entrypointPath)
			}
			if err := os.Symlink(h.Linkname, dst); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkStaticBinary(t, h, data)
			t.Logf("layer: %s, %d bytes (%d compressed)", h.Name, len(data), len(gz))
			if err := os.WriteFile(dst, data, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
	want := []string{strings.TrimPrefix(entrypointPath, "/"), "usr/", "usr/local/", "usr/local/bin/", strings.TrimPrefix(kubeProxyPath, "/")}
	if !slices.Equal(names, want) {
		t.Errorf("layer entries %q, want %q", names, want)
	}
	return root
}

// checkStaticBinary checks the layer's one file is the entrypoint, a 0755
// static ELF executable.
func checkStaticBinary(t *testing.T, h *tar.Header, data []byte) {
	t.Helper()
	if "/"+h.Name != entrypointPath || h.Mode&0o777 != 0o755 {
		t.Errorf("file %s mode %o, want only %s, 0755", h.Name, h.Mode, entrypointPath)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not ELF: %v", h.Name, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has an interpreter)", h.Name)
		}
	}
}

// checkBothPathsRun runs the unpacked layer's entrypoint and kube-proxy
// path with --version: both must be the binary, stamped by hack/image.sh.
// (The archive is built for this machine's architecture.)
func checkBothPathsRun(t *testing.T, root string) {
	t.Helper()
	for _, p := range []string{entrypointPath, kubeProxyPath} {
		out, err := exec.CommandContext(t.Context(), filepath.Join(root, p), "--version").CombinedOutput()
		if want := "ipvs-proxy " + stampedVersion + "\n"; err != nil || string(out) != want {
			t.Errorf("%s --version: %v, output %q, want %q", p, err, out, want)
		}
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestDockerfile checks the Dockerfile's final stage is scratch and that the
// directories it copies are enough to build the binary, by building from a
// copy of only those (module cache only, no network).
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, copies []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "FROM":
			froms = append(froms, f[1])
		case len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--from"):
			copies = append(copies, f[1:len(f)-1]...)
		}
	}
	if len(froms) == 0 || froms[len(froms)-1] != "scratch" {
		t.Errorf("final stage FROM %v, want scratch", froms)
	}
	// The same kube-proxy link as hack/image.sh's, copied with the binary.
	for _, want := range []string{"ln -s ../../../ipvs-proxy /out" + kubeProxyPath, "COPY --from=build /out/ /"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	ctx := t.TempDir()
	for _, c := range copies {
		cp := exec.Command("cp", "-r", filepath.Join(repoRoot, c), filepath.Join(ctx, c))
		if out, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("copying %s: %v\n%s", c, err, out)
		}
	}
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(ctx, "out"), "./cmd/ipvs-proxy")
	build.Dir = ctx
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building from the Dockerfile's COPY set %v: %v\n%s", copies, err, out)
	}
}

func dockerfileEntrypoint(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			var ep []string
			if err := json.Unmarshal([]byte(rest), &ep); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", rest, err)
			}
			return ep
		}
	}
	t.Fatal("no ENTRYPOINT in the Dockerfile")
	return nil
}

// untar reads a tar file into memory, by cleaned path.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Clean(h.Name)] = data
		}
	}
}

// blob returns the blob a descriptor names, checking its size and digest.
func blob(t *testing.T, files map[string][]byte, d ociDescriptor) []byte {
	t.Helper()
	algo, hexDigest, _ := strings.Cut(d.Digest, ":")
	data, ok := files[filepath.Join("blobs", algo, hexDigest)]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	sum := sha256.Sum256(data)
	if algo != "sha256" || hex.EncodeToString(sum[:]) != hexDigest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: sha256 %x, size %d (descriptor says %d)", d.Digest, sum, len(data), d.Size)
	}
	return data
}

func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
}
