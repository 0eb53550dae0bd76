package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// serveControl carries out the guest's requests (guest.AskHost) until ctx
// ends: it polls dir for NAME.req files and answers each with NAME.resp.
func (s *Suite) serveControl(ctx context.Context, dir string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		reqs, _ := filepath.Glob(filepath.Join(dir, "*.req"))
		for _, req := range reqs {
			data, err := os.ReadFile(req)
			if err != nil {
				continue
			}
			answer := "ok"
			if err := s.do(ctx, strings.TrimSpace(string(data))); err != nil {
				answer = err.Error()
			}
			base := strings.TrimSuffix(req, ".req")
			_ = os.Remove(req)
			_ = os.WriteFile(base+".resp.tmp", []byte(answer), 0o644)
			_ = os.Rename(base+".resp.tmp", base+".resp")
		}
	}
}

// do carries out one action.
func (s *Suite) do(ctx context.Context, action string) error {
	switch action {
	case guest.HostStopAPIServer:
		return s.Plane.StopAPIServer()
	case guest.HostStartAPIServer:
		return s.Plane.StartAPIServer(ctx)
	case guest.HostRestartAPIServer:
		return s.Plane.Restart(ctx)
	case guest.HostKillAPIServer:
		return s.Plane.KillAPIServer()
	}
	return fmt.Errorf("unknown action %q", action)
}
