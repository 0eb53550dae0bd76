package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Host actions a scenario may ask for; test/e2e/host carries them out.
const (
	HostStopAPIServer    = "stop-apiserver"
	HostStartAPIServer   = "start-apiserver"
	HostRestartAPIServer = "restart-apiserver"
	HostKillAPIServer    = "kill-apiserver"
)

var requestSeq atomic.Int64

// AskHost asks the host side to carry out action and waits for its answer.
// A request is the file $E2E_CONTROL/NAME.req holding the action, written
// whole by a rename; the host answers with NAME.resp holding "ok" or the
// error. The share is 9p, so the host sees the rename at once.
func AskHost(action string, timeout time.Duration) error {
	dir := os.Getenv(EnvControl)
	if dir == "" {
		return errors.New(EnvControl + " is not set: not run by test/e2e/host")
	}
	name := fmt.Sprintf("%d-%d", os.Getpid(), requestSeq.Add(1))
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, []byte(action), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".req")); err != nil {
		return err
	}
	resp := filepath.Join(dir, name+".resp")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(resp)
		if err == nil {
			if answer := strings.TrimSpace(string(data)); answer != "ok" {
				return fmt.Errorf("host: %s: %s", action, answer)
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("host: no answer to %s within %v", action, timeout)
}
