package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// GuestAPIServer is where the guest reaches the API server (test/vm's
// guestfwd).
const GuestAPIServer = "198.19.255.100"

// Where the host's directories appear in the guest.
const (
	guestShare  = "/share"
	guestBinDir = "/e2e/bin"
	guestK8sBin = "/e2e/k8s"
)

// Suite is a running API server and the share its VMs use.
type Suite struct {
	Plane   *apiserver.Plane
	ModRoot string
	// Share is mounted read-write at /share in the guest: the guest's
	// kubeconfig, the daemons' logs, the control directory.
	Share string
	// BinDir holds the built binaries, mounted read-only at /e2e/bin.
	BinDir string
	cancel context.CancelFunc
	done   chan struct{}
}

// Config says where things go.
type Config struct {
	ModRoot string
	Share   string // an existing, empty directory
	BinDir  string // Build's output directory
	// EtcdFrom, if set, is an etcd data directory the API server starts
	// from (apiserver.Options.EtcdFrom).
	EtcdFrom string
}

// Start starts the API server (dual-stack, its certificate naming the
// guest's address), writes the guest's kubeconfig and starts serving control
// requests. Stop undoes it.
func Start(ctx context.Context, cfg Config) (_ *Suite, err error) {
	p, err := apiserver.Start(ctx, apiserver.Options{
		ServiceCIDRv6: apiserver.DefaultServiceCIDRv6,
		ExtraSANs:     []string{GuestAPIServer},
		EtcdFrom:      cfg.EtcdFrom,
	})
	if err != nil {
		return nil, err
	}
	s := &Suite{Plane: p, ModRoot: cfg.ModRoot, Share: cfg.Share, BinDir: cfg.BinDir, done: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Stop())
		}
	}()
	for _, d := range []string{"logs", "control"} {
		if err := os.MkdirAll(filepath.Join(cfg.Share, d), 0o755); err != nil {
			return nil, err
		}
	}
	server := "https://" + GuestAPIServer + ":6443"
	if err := p.Admin().WriteKubeconfig(filepath.Join(cfg.Share, "kubeconfig"), server); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.serveControl(cctx, filepath.Join(cfg.Share, "control"))
	}()
	return s, nil
}

// Stop stops serving control requests and stops the API server.
func (s *Suite) Stop() error {
	s.cancel()
	<-s.done
	return s.Plane.Stop()
}

// apiserverPort is the API server's loopback port.
func (s *Suite) apiserverPort() (int, error) {
	u, err := url.Parse(s.Plane.URL())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Port())
}

// Run is one boot of the VM.
type Run struct {
	// Name names the run's log directory, /share/logs/NAME.
	Name string
	// Command runs in the guest, e.g. /e2e/bin/scenarios.test -test.run X.
	Command []string
	// Timeout bounds the whole run, boot included.
	Timeout time.Duration
	// SMP is the guest's CPU count; test/vm's default (2) when 0.
	SMP int
	// Output receives the guest's output, line by line.
	Output func(line string)
	// MemMB is the VM's memory in MiB; test/vm's default when 0.
	MemMB int
}

// LogDir returns the host path of a run's log directory.
func (s *Suite) LogDir(name string) string { return filepath.Join(s.Share, "logs", name) }

// Run boots the VM, runs the command and returns its exit status: 0 when
// it passed, 124 when the run timed out, 125 when the VM failed (test/vm's
// run.sh). err is set only when the VM could not be started at all.
func (s *Suite) Run(ctx context.Context, r Run) (int, error) {
	port, err := s.apiserverPort()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(s.LogDir(r.Name), 0o755); err != nil {
		return 0, err
	}
	args := []string{
		"--share", s.Share, "--cwd", guestShare,
		"--mount", s.BinDir + ":" + guestBinDir + ":ro",
		"--apiserver", "127.0.0.1:" + strconv.Itoa(port),
		"--timeout", strconv.Itoa(int(r.Timeout.Seconds())),
		"--env", guest.EnvDaemon + "=" + guestBinDir + "/" + DaemonBin,
		"--env", guest.EnvKubeconfig + "=" + guestShare + "/kubeconfig",
		"--env", guest.EnvLogDir + "=" + guestShare + "/logs/" + r.Name,
		"--env", guest.EnvControl + "=" + guestShare + "/control",
	}
	if r.MemMB > 0 {
		args = append(args, "--mem", strconv.Itoa(r.MemMB))
	}
	if r.SMP > 0 {
		args = append(args, "--smp", strconv.Itoa(r.SMP))
	}
	if dir := apiserver.BinDir(); dirExists(dir) {
		args = append(args, "--mount", dir+":"+guestK8sBin+":ro", "--env", guest.EnvK8sBin+"="+guestK8sBin)
	}
	args = append(append(args, "--"), r.Command...)
	cmd := exec.CommandContext(ctx, filepath.Join(s.ModRoot, "test/vm/run.sh"), args...)
	cmd.Dir = s.ModRoot
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting test/vm/run.sh: %w", err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if r.Output != nil {
				r.Output(strings.TrimRight(sc.Text(), "\r"))
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-scanned
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}
