package options

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRepairPeriod: the full read-back runs every ipvs.syncPeriod when the
// file or the command line sets it, every DefaultRepairPeriod when neither
// does (kubeadm's config.conf writes 0s); the cheap checks and the health
// timeout keep kube-proxy's 30 s default either way.
func TestRepairPeriod(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"+body)
		return path
	}
	unset, zero, set := file("unset.yaml", ""), file("zero.yaml", "ipvs:\n  syncPeriod: 0s\n"), file("set.yaml", "ipvs:\n  syncPeriod: 45s\n")
	for _, tc := range []struct {
		name         string
		args         []string
		sync, repair time.Duration
	}{
		{"no config, no flag", nil, 30 * time.Second, DefaultRepairPeriod},
		{"flag", []string{"--ipvs-sync-period=30s"}, 30 * time.Second, 30 * time.Second},
		{"file without the field", []string{"--config=" + unset}, 30 * time.Second, DefaultRepairPeriod},
		{"file with 0s (kubeadm)", []string{"--config=" + zero}, 30 * time.Second, DefaultRepairPeriod},
		{"file with a value", []string{"--config=" + set}, 45 * time.Second, 45 * time.Second},
		{"flag over the file", []string{"--config=" + set, "--ipvs-sync-period=2m"}, 2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := completeDaemon(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.KubeProxy.IPVS.SyncPeriod.Duration; got != tc.sync {
				t.Errorf("sync period %v, want %v", got, tc.sync)
			}
			if cfg.RepairPeriod != tc.repair {
				t.Errorf("repair period %v, want %v", cfg.RepairPeriod, tc.repair)
			}
		})
	}
}
