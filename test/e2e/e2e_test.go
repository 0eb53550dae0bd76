//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/host"
)

// TestE2E runs every scenario, each in a fresh VM.
func TestE2E(t *testing.T) {
	s := startSuite(t)
	repeat := envInt(t, "E2E_REPEAT", 1)
	vm := vmConfig{timeout: time.Duration(envInt(t, "E2E_VM_TIMEOUT", 300)) * time.Second, smp: envInt(t, "E2E_SMP", defaultSMP)}
	for _, name := range listScenarios(t, s) {
		for range repeat {
			t.Run(strings.TrimPrefix(name, "Test"), func(t *testing.T) {
				runScenario(t, s, name, vm)
			})
		}
	}
}

// startSuite builds the binaries and starts the API server.
func startSuite(t *testing.T) *host.Suite {
	apiserver.RequireBinaries(t)
	ctx := t.Context()
	root, err := host.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin := filepath.Join(root, "test/e2e/.cache/bin")
	if err := host.Build(ctx, root, bin, host.DaemonBin, host.ScenariosBin); err != nil {
		t.Fatal(err)
	}
	t.Logf("Built the binaries in %v", time.Since(start).Round(time.Millisecond))
	share := t.TempDir()
	if os.Getenv("E2E_KEEP") == "1" {
		if share, err = os.MkdirTemp("", "ipvs-proxy-e2e-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("Keeping the share directory %s", share)
	}
	start = time.Now()
	s, err := host.Start(ctx, host.Config{ModRoot: root, Share: share, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Started kube-apiserver at %s in %v", s.Plane.URL(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stopping the suite: %v", err)
		}
	})
	return s
}

// listScenarios asks the scenarios' test binary for its tests.
func listScenarios(t *testing.T, s *host.Suite) []string {
	out, err := exec.Command(filepath.Join(s.BinDir, host.ScenariosBin), "-test.list", "^Test").Output()
	if err != nil {
		t.Fatalf("Listing the scenarios: %v", err)
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	return names
}

// defaultSMP is the guests' CPU count. One vCPU is a single TCG thread: with
// two, on this project's two shared host cores, 2 of 130 boots failed in the
// emulator (a guest soft lockup that never ended, a qemu segfault), and the
// suite was no faster.
const defaultSMP = 1

// vmConfig is how scenarios' VMs boot.
type vmConfig struct {
	timeout time.Duration
	smp     int
}

// runScenario boots a VM that runs one scenario and fails t if it failed.
func runScenario(t *testing.T, s *host.Suite, name string, vm vmConfig) {
	timeout := vm.timeout
	logName := strings.ReplaceAll(t.Name(), "/", "_")
	ctx, cancel := context.WithTimeout(t.Context(), timeout+time.Minute)
	defer cancel()
	start := time.Now()
	rc, err := s.Run(ctx, host.Run{
		Name: logName,
		Command: []string{"/e2e/bin/" + host.ScenariosBin, "-test.run", "^" + name + "$", "-test.v",
			"-test.timeout", (timeout - 30*time.Second).String()},
		Timeout: timeout,
		SMP:     vm.smp,
		Output:  func(line string) { t.Log(line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	switch rc {
	case 0:
		t.Logf("%s passed; the VM ran %v", name, took)
	case 124:
		t.Errorf("%s: the VM timed out after %v", name, took)
	case 125:
		t.Errorf("%s: the VM failed (see its console above)", name)
	default:
		t.Errorf("%s failed (exit status %d) after %v; daemon logs in %s", name, rc, took, s.LogDir(logName))
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}
