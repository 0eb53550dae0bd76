// Command demo shows ipvs-proxy's main job on one machine with nothing
// installed but Go and Debian's packages (`make demo`):
//
//	host:  build the daemon and this command (static) ─► start a real
//	       kube-apiserver + etcd on 127.0.0.1 ─► boot the test VM (test/vm)
//	guest: demo -guest: three backend namespaces and a client ─► a Service
//	       and its EndpointSlice ─► ipvs-proxy ─► traffic spreading ─► one
//	       backend terminating, drained, then removed ─► ipvsadm and metrics
//	       ─► everything shut down
//
// The guest part uses test/e2e/guest, the same pieces as the end-to-end
// scenarios; the host part uses test/e2e/host.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/host"
)

func main() {
	guestMode := flag.Bool("guest", false, "run the demo's guest part (inside the test VM)")
	flag.Parse()
	if *guestMode {
		if err := runGuest(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := runHost(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runHost builds, starts the API server, boots the VM with the guest part
// and returns its exit status.
func runHost(ctx context.Context) (int, error) {
	if _, err := apiserver.Binary(apiserver.BinDir(), apiserver.KubeAPIServer); err != nil {
		return 0, err
	}
	root, err := host.ModuleRoot(ctx)
	if err != nil {
		return 0, err
	}
	step("Building ipvs-proxy and the demo (static binaries)")
	bin := filepath.Join(root, "test/e2e/.cache/demo-bin")
	if err := host.Build(ctx, root, bin, host.DaemonBin, host.DemoBin); err != nil {
		return 0, err
	}
	share, err := os.MkdirTemp("", "ipvs-proxy-demo-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(share)
	step("Starting kube-apiserver " + apiserver.Version + " and etcd on 127.0.0.1")
	s, err := host.Start(ctx, host.Config{ModRoot: root, Share: share, BinDir: bin})
	if err != nil {
		return 0, err
	}
	defer func() {
		fmt.Printf("\n== Stopping kube-apiserver and etcd\n")
		_ = s.Stop()
	}()
	fmt.Printf("   API server at %s; the VM reaches it at %s:6443\n", s.Plane.URL(), host.GuestAPIServer)
	step("Booting Debian's kernel under qemu (test/vm); steps 4 on run inside it")
	start := time.Now()
	code, err := s.Run(ctx, host.Run{
		Name:    "demo",
		Command: []string{"/e2e/bin/" + host.DemoBin, "-guest"},
		Timeout: 5 * time.Minute,
		SMP:     1, // as the suite: one TCG thread is the steadiest on a small host
		Output:  func(line string) { fmt.Println(line) },
	})
	if err != nil {
		return 0, err
	}
	fmt.Printf("   The VM ran %v and exited with status %d\n", time.Since(start).Round(100*time.Millisecond), code)
	return code, nil
}

// step prints a numbered headline.
func step(what string) {
	stepN++
	fmt.Printf("\n== %d. %s\n", stepN, what)
}

var stepN int
