package apiserver

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// ForTest starts a plane for t and stops it when t ends. It calls
// RequireBinaries first (fail in CI, skip elsewhere), fails t when the plane
// does not start, and logs the end of the API server log when t failed.
func ForTest(t testing.TB, opts Options) *Plane {
	t.Helper()
	RequireBinaries(t)
	ctx := t.Context()
	start := time.Now()
	p, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Starting the API server: %v", err)
	}
	t.Logf("Started kube-apiserver %s at %s in %v (dir %s)", Version, p.URL(), time.Since(start).Round(time.Millisecond), p.Dir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Last kube-apiserver log lines:\n%s", p.LogTail(40))
		}
		if err := p.Stop(); err != nil {
			t.Errorf("Stopping the API server: %v", err)
		}
	})
	return p
}

// Kubectl runs the kubectl binary from the plane's binary directory as the
// admin and returns its combined output.
func (p *Plane) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := Binary(p.binDir, Kubectl)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + p.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w", args, err)
	}
	return out, nil
}
