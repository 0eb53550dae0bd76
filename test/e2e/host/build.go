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

// buildArgs are the go commands that build each binary into dir.
func buildArgs(name, dir string) []string {
	out := filepath.Join(dir, name)
	switch name {
	case DaemonBin:
		return []string{"build", "-trimpath", "-o", out, "./cmd/ipvs-proxy"}
	case ScenariosBin:
		return []string{"test", "-c", "-tags", "e2eguest", "-o", out, "./test/e2e/scenarios"}
	case DemoBin:
		return []string{"build", "-o", out, "./test/e2e/demo"}
	}
	return nil
}

// Build compiles static binaries the guest runs into dir: any of DaemonBin,
// ScenariosBin and DemoBin.
func Build(ctx context.Context, modRoot, dir string, names ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		args := buildArgs(name, dir)
		if args == nil {
			return fmt.Errorf("unknown binary %q", name)
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
