//go:build vmtest

package privileges

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// Environment of the "daemon" helper.
const (
	// mountEnv is "HOSTPATH:MOUNTPATH", the DaemonSet's hostPath volume.
	mountEnv = "IPVS_PROXY_PRIV_MOUNT"
	// execEnv is the JSON argv the helper executes once it holds only its
	// capabilities.
	execEnv = "IPVS_PROXY_PRIV_EXEC"
	// daemonBinEnv names the daemon binary; by default bin/ipvs-proxy at
	// the module root (`make build`, static).
	daemonBinEnv = "IPVS_PROXY_BIN"
)

func init() {
	// The pod's mounts, from the DaemonSet: its hostPath bound at its
	// mountPath (kubelet and runc set up volumes first), then /proc/sys
	// bound onto itself read-only, as runc does for kubelet's readonlyPaths,
	// and /sys read-only, as runc mounts sysfs in an unprivileged container.
	helperPrepare["daemon"] = func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making / private: %w", err)
		}
		src, dst, ok := strings.Cut(os.Getenv(mountEnv), ":")
		if !ok {
			return fmt.Errorf("%s=%q: want HOSTPATH:MOUNTPATH", mountEnv, os.Getenv(mountEnv))
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", src, dst, err)
		}
		for _, dir := range []string{"/proc/sys", "/sys"} {
			if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("binding %s: %w", dir, err)
			}
			if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("remounting %s read-only: %w", dir, err)
			}
		}
		return nil
	}
	helperExec["daemon"] = func() ([]string, error) {
		var argv []string
		err := json.Unmarshal([]byte(os.Getenv(execEnv)), &argv)
		return argv, err
	}
}

// podSpec is what the test takes from manifests/base/daemonset.yaml.
type podSpec struct {
	args                []string
	hostPath, mountPath string
	caps                []v1.Capability
	initContainers      int
}

// readDaemonSet reads the base DaemonSet's daemon container and its one
// hostPath volume.
func readDaemonSet(t *testing.T, root string) podSpec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "manifests/base/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(data, &ds); err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	p := podSpec{initContainers: len(spec.InitContainers)}
	for _, c := range spec.Containers {
		if c.Name != "ipvs-proxy" {
			continue
		}
		p.args = c.Args
		if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
			p.caps = sc.Capabilities.Add
		}
		for _, v := range spec.Volumes {
			if v.HostPath == nil {
				continue
			}
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && !m.ReadOnly {
					p.hostPath, p.mountPath = v.HostPath.Path, m.MountPath
				}
			}
		}
	}
	if p.args == nil || p.hostPath == "" {
		t.Fatalf("no ipvs-proxy container with a read-write hostPath mount in the DaemonSet: %+v", p)
	}
	return p
}

// TestDaemonSetsSysctlsThroughHostPath runs the daemon binary as the base
// DaemonSet runs it: root with only CAP_NET_ADMIN (bounding set included)
// and no_new_privs, a read-only /proc/sys, the DaemonSet's hostPath of
// /proc/sys/net at its mountPath, and the DaemonSet's args (config.conf,
// --sysctl-root), plus --ipvs-strict-arp and a dual-stack --cluster-cidr
// so that every row of the sysctl table applies. Every required sysctl had
// the wrong value; the daemon resets each one at start, before it has heard
// from any API server (it is given none that answers), and reads the kernel
// version although kernel.osrelease is not under --sysctl-root.
func TestDaemonSetsSysctlsThroughHostPath(t *testing.T) {
	root := moduleRoot(t)
	bin := daemonBinary(t, root)
	pod := readDaemonSet(t, root)
	if pod.initContainers != 0 || len(pod.caps) != 1 || pod.caps[0] != "NET_ADMIN" {
		t.Fatalf("the DaemonSet has %d init containers and adds capabilities %v; want none and NET_ADMIN", pod.initContainers, pod.caps)
	}
	want := requiredSysctls(t)
	spoil(t, want)
	kernelConntrack := lowerConntrack(t)
	// The mount point, as runc makes it in the container's root; the mount
	// itself lives in the helper's namespace only.
	top := "/" + strings.Split(strings.TrimPrefix(pod.mountPath, "/"), "/")[0]
	if _, err := os.Stat(top); errors.Is(err, fs.ErrNotExist) {
		t.Cleanup(func() { os.RemoveAll(top) })
	}
	if err := os.MkdirAll(pod.mountPath, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("kube-ipvs0"); err == nil {
			netlink.LinkDel(l)
		}
	})

	argv := append([]string{bin}, podArgs(pod.args, root)...)
	argv = append(argv, "--master=https://127.0.0.1:1", "--ipvs-strict-arp", "--cluster-cidr=198.18.128.0/17,fd00:10:244::/56",
		"--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=", "--lame-duck-duration=0s", "--v=2")
	argvJSON, _ := json.Marshal(argv)
	log := filepath.Join(t.TempDir(), "daemon.log")
	cmd, done := startHelper(t, "daemon", log, syscall.CLONE_NEWNS,
		mountEnv+"="+pod.hostPath+":"+pod.mountPath, execEnv+"="+string(argvJSON))

	deadline := time.After(60 * time.Second)
	for !sysctlsAre(want) {
		select {
		case <-done:
			t.Fatalf("the daemon exited; sysctls now:\n%s\nlog:\n%s", currentSysctls(want), readFile(t, log))
		case <-deadline:
			t.Fatalf("the daemon did not set the sysctls in 60s; now:\n%s\nlog:\n%s", currentSysctls(want), readFile(t, log))
		case <-time.After(200 * time.Millisecond):
		}
	}
	status := readFile(t, fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	mounts := readFile(t, fmt.Sprintf("/proc/%d/mountinfo", cmd.Process.Pid))
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Error("the daemon did not exit within 20s of SIGTERM")
	}
	out := readFile(t, log)
	if !strings.Contains(out, "REPORT ") {
		t.Errorf("the helper did not report before it executed the daemon:\n%s", out)
	}

	for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := statusField(status, field); got != netAdminOnly {
			t.Errorf("the daemon's %s = %s, want %s (CAP_NET_ADMIN only)", field, got, netAdminOnly)
		}
	}
	if got := statusField(status, "NoNewPrivs"); got != "1" {
		t.Errorf("the daemon's NoNewPrivs = %s, want 1", got)
	}
	checkMounts(t, mounts, pod.mountPath)
	checkConntrack(t, out, kernelConntrack)
	for _, s := range want {
		if !regexp.MustCompile(`"Reset a drifted sysctl" .*name="` + regexp.QuoteMeta(s.Name) + `"`).MatchString(out) {
			t.Errorf("the daemon did not log resetting %s", s.Name)
		}
	}
	for _, bad := range []string{"Failed to apply required sysctls", "Could not read the kernel version"} {
		if strings.Contains(out, bad) {
			t.Errorf("the daemon logged %q", bad)
		}
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", out)
	}
}

// requiredSysctls is the daemon's table for this kernel, IPv6 and strict
// ARP included (bridge rows when br_netfilter is loaded).
func requiredSysctls(t *testing.T) []sysctl.Setting {
	t.Helper()
	p := sysctl.New()
	kernel, err := sysctl.RunningKernel(p)
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := sysctl.BridgePresent(p)
	if err != nil {
		t.Fatal(err)
	}
	return sysctl.Required(sysctl.Options{Kernel: kernel, IPv6: true, StrictARP: true, Bridge: bridge})
}

// spoil gives every setting a value other than the required one, and puts
// the node's values back when the test ends.
func spoil(t *testing.T, settings []sysctl.Setting) {
	t.Helper()
	p := sysctl.New()
	for _, s := range settings {
		old, err := p.Get(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Set(s.Name, old) })
		wrong := "0"
		if s.Value == "0" {
			wrong = "1"
		}
		if err := p.Set(s.Name, wrong); err != nil {
			t.Fatal(err)
		}
	}
}

func sysctlsAre(settings []sysctl.Setting) bool {
	p := sysctl.New()
	for _, s := range settings {
		if v, err := p.Get(s.Name); err != nil || v != s.Value {
			return false
		}
	}
	return true
}

func currentSysctls(settings []sysctl.Setting) string {
	p := sysctl.New()
	var b strings.Builder
	for _, s := range settings {
		v, err := p.Get(s.Name)
		fmt.Fprintf(&b, "%s = %s (want %s) %v\n", s.Name, v, s.Value, errString(err))
	}
	return b.String()
}

// checkMounts: in the daemon's mount namespace /proc/sys and /sys are
// read-only and the hostPath mount is read-write.
func checkMounts(t *testing.T, mountinfo, mountPath string) {
	t.Helper()
	opts := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 5 {
			opts[f[4]] = f[5] // the last mount at a path wins, as in the namespace
		}
	}
	for _, dir := range []string{"/proc/sys", "/sys"} {
		if o := opts[dir]; !strings.HasPrefix(o, "ro") {
			t.Errorf("%s in the daemon's namespace: %q, want read-only", dir, o)
		}
	}
	if o := opts[mountPath]; !strings.HasPrefix(o, "rw") {
		t.Errorf("%s in the daemon's namespace: %q, want read-write", mountPath, o)
	}
}

// podArgs expands $(NODE_NAME) and points --config at the base's
// config.conf, as the ConfigMap volume would.
func podArgs(args []string, root string) []string {
	var out []string
	for _, a := range args {
		a = strings.ReplaceAll(a, "$(NODE_NAME)", "vm")
		a = strings.ReplaceAll(a, "/etc/ipvs-proxy/", filepath.Join(root, "manifests/base")+"/")
		out = append(out, a)
	}
	return out
}

// startHelper starts the test binary in mode as root with only
// CAP_NET_ADMIN, its output going to log, and kills it at the end. done is
// closed when it has exited.
func startHelper(t *testing.T, mode, log string, cloneflags uintptr, env ...string) (cmd *exec.Cmd, done <-chan struct{}) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd = exec.Command(exe, "-test.run=^$")
	cmd.Env = append([]string{helperEnv + "=" + mode, capsEnv + "=net_admin", "PATH="}, env...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = "/", f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: cloneflags}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return cmd, exited
}

var statusLine = regexp.MustCompile(`(?m)^(\w+):\s*(\S+)`)

// statusField returns a field of /proc/PID/status.
func statusField(status, name string) string {
	for _, m := range statusLine.FindAllStringSubmatch(status, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// moduleRoot is the directory holding go.mod (the guest's /share).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// daemonBinary is $IPVS_PROXY_BIN or bin/ipvs-proxy, which must be static
// (the guest has no C library): `make build`.
func daemonBinary(t *testing.T, root string) string {
	t.Helper()
	bin := os.Getenv(daemonBinEnv)
	if bin == "" {
		bin = filepath.Join(root, "bin/ipvs-proxy")
	}
	st, err := os.Stat(bin)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no daemon binary at %s: run `make build` first (or set %s)", bin, daemonBinEnv)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon binary %s, built %s", bin, st.ModTime().Format(time.RFC3339))
	return bin
}
