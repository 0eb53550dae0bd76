package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one child (etcd or kube-apiserver) whose output goes to a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and waitErr is set
	waitErr error
}

// startProcess starts bin with args in dir, appending its output to dir/name.log.
func startProcess(name, bin string, args []string, dir string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "=== %s starting %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the test binary dies without calling Stop, the children die with it
	// instead of holding ports and temp dirs forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to grace for the process to exit, then kills it
// (at once when grace is 0).
// It returns an error only when even SIGKILL did not end the process.
func (p *process) stop(grace time.Duration) error {
	if !p.running() {
		return nil
	}
	if grace > 0 {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
		}
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// waitReady polls probe every interval until it succeeds, the process exits,
// or ctx ends. Errors carry the tail of the process log.
func (p *process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	const interval = 50 * time.Millisecond
	var last error
	for {
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(probeCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); last log lines:\n%s", p.name, p.waitErr, p.logTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last probe: %v); last log lines:\n%s",
				p.name, context.Cause(ctx), last, p.logTail(30))
		case <-time.After(interval):
		}
	}
}

// logTail returns the last n lines of the process log.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// addrInUse reports whether a process failed because another process took
// the free port picked for it in the meantime.
func (p *process) addrInUse() bool {
	return !p.running() && strings.Contains(p.logTail(50), "address already in use")
}
