package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries built into the binary directory.
const (
	DaemonBin    = "ipvs-proxy"
	ScenariosBin = "scenarios.test"
	DemoBin      = "demo"
)

// ModuleRoot returns the directory of the project's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the project's Go module")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles the static binaries the guest runs into dir: the daemon,
// the scenarios' test binary and the demo.
func Build(ctx context.Context, modRoot, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	steps := [][]string{
		{"build", "-trimpath", "-o", filepath.Join(dir, DaemonBin), "./cmd/ipvs-proxy"},
		{"test", "-c", "-tags", "e2eguest", "-o", filepath.Join(dir, ScenariosBin), "./test/e2e/scenarios"},
		{"build", "-o", filepath.Join(dir, DemoBin), "./test/e2e/demo"},
	}
	for _, args := range steps {
		if _, err := os.Stat(filepath.Join(modRoot, args[len(args)-1])); err != nil {
			continue // the demo may not exist yet
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = modRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
