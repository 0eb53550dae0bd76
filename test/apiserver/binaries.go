package apiserver

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Version is the Kubernetes release the binaries are built from. It must match
// the k8s.io/kubernetes requirement in bins/go.mod (a unit test checks).
const Version = "v1.37.2"

// Names of the binaries build.sh produces.
const (
	KubeAPIServer = "kube-apiserver"
	Etcd          = "etcd"
	Kubectl       = "kubectl"
	KubeProxy     = "kube-proxy"
)

// Environment variables that choose where the binaries are.
const (
	// EnvBinDir names a directory holding the binaries; it wins over the cache.
	EnvBinDir = "IPVS_PROXY_K8S_BIN"
	// EnvCache is the project's cache root, $HOME/.cache/ipvs-proxy by default.
	EnvCache = "IPVS_PROXY_CACHE"
)

// BinDir returns the directory of the Kubernetes binaries: $IPVS_PROXY_K8S_BIN
// when set, otherwise the default output directory of build.sh,
// ${IPVS_PROXY_CACHE:-$HOME/.cache/ipvs-proxy}/k8s-<Version>/bin.
func BinDir() string {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return dir
	}
	cache := os.Getenv(EnvCache)
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "ipvs-proxy")
	}
	return filepath.Join(cache, "k8s-"+Version, "bin")
}

// Binary returns the path of the named binary in dir, or an error that says
// how to build it when it is missing or not executable.
func Binary(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
		return path, nil
	}
	return "", fmt.Errorf("%s %s not found in %s: run `make k8s-bins` (test/apiserver/build.sh) "+
		"or point %s at a directory holding it", name, Version, dir, EnvBinDir)
}

// RequireBinaries checks that the named binaries (kube-apiserver and etcd when
// none are named) are in BinDir. When one is missing the test fails if CI=true,
// so CI never passes by skipping, and is skipped otherwise.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = []string{KubeAPIServer, Etcd}
	}
	dir := BinDir()
	for _, name := range names {
		if _, err := Binary(dir, name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
	}
}
