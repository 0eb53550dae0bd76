// Package configwatchtest lays out files as the kubelet lays out a
// ConfigMap volume, for tests of the --config watch.
package configwatchtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Volume is a directory laid out as the kubelet's atomic writer
// (pkg/volume/util/atomic_writer.go) lays out a ConfigMap volume:
//
//	config.conf -> ..data/config.conf
//	..data      -> ..<generation>
//	..<generation>/config.conf
//
// An update writes a new ..<generation> directory, renames a new symlink
// over ..data and deletes the old directory: config.conf itself is never
// written.
type Volume struct {
	t          *testing.T
	dir        string
	generation int
}

// Key is the file name in the volume, as in kubeadm's kube-proxy ConfigMap.
const Key = "config.conf"

// NewVolume creates a volume in a temporary directory holding content.
func NewVolume(t *testing.T, content string) *Volume {
	t.Helper()
	v := &Volume{t: t, dir: t.TempDir()}
	v.Update(content)
	if err := os.Symlink(filepath.Join("..data", Key), v.Path()); err != nil {
		t.Fatal(err)
	}
	return v
}

// Path is the file the daemon is given with --config.
func (v *Volume) Path() string { return filepath.Join(v.dir, Key) }

// Update publishes content as the kubelet does, even when it is the same.
func (v *Volume) Update(content string) {
	v.t.Helper()
	old := v.genDir()
	v.generation++
	if err := os.Mkdir(v.genDir(), 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.genDir(), Key), []byte(content), 0o644); err != nil {
		v.t.Fatal(err)
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(v.genDir()), tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if v.generation > 1 {
		if err := os.RemoveAll(old); err != nil {
			v.t.Fatal(err)
		}
	}
}

// Delete removes the volume's content, as when the ConfigMap is deleted.
func (v *Volume) Delete() {
	v.t.Helper()
	if err := os.RemoveAll(v.genDir()); err != nil {
		v.t.Fatal(err)
	}
}

func (v *Volume) genDir() string {
	return filepath.Join(v.dir, fmt.Sprintf("..2026_12_06_00_00_%02d.%d", v.generation, v.generation))
}
