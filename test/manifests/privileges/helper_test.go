//go:build vmtest

package privileges

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Helper modes, chosen by the environment variable helperEnv.
const (
	helperEnv = "IPVS_PROXY_PRIV_HELPER"
	// capsEnv says which capabilities a root helper keeps: "net_admin" or
	// "none". Non-root helpers get theirs from exec (ambient capabilities).
	capsEnv = "IPVS_PROXY_PRIV_CAPS"
)

// report is what a helper prints: its effective capabilities and, per
// operation, "" or the error.
type report struct {
	CapEff  string
	Results map[string]string
}

// identity is how a helper is started.
type identity struct {
	name string
	uid  uint32
	// netAdmin: the helper keeps CAP_NET_ADMIN and nothing else; otherwise
	// it has no capability at all.
	netAdmin bool
}

var (
	rootNetAdmin   = identity{"root with only NET_ADMIN", 0, true}
	rootNoCaps     = identity{"root without capabilities", 0, false}
	nobodyNetAdmin = identity{"uid 65534 with only NET_ADMIN", 65534, true}
	nobodyNoCaps   = identity{"uid 65534 without capabilities", 65534, false}
)

// runHelper re-executes the test binary in mode as id, with extra clone
// flags, and returns its report.
func runHelper(t *testing.T, mode string, id identity, cloneflags uintptr, args ...string) report {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if id.uid != 0 {
		exe = worldExecutable(t, exe)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^$"}, args...)...)
	caps := "none"
	if id.netAdmin {
		caps = "net_admin"
	}
	// No PATH: like the image, the helper has no modprobe to run.
	cmd.Env = []string{helperEnv + "=" + mode, capsEnv + "=" + caps, "PATH="}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: cloneflags}
	if id.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id.uid, Gid: id.uid}
		if id.netAdmin {
			cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_NET_ADMIN}
		}
	}
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	if err != nil {
		t.Fatalf("helper %s as %s: %v\n%s%s", mode, id.name, err, out, stderr)
	}
	var r report
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "REPORT "); ok {
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("helper %s as %s printed no report:\n%s", mode, id.name, out)
	return r
}

// worldExecutable copies the test binary where any user may run it (the
// harness keeps it in a directory only root can enter).
func worldExecutable(t *testing.T, exe string) string {
	t.Helper()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	// The VM's initramfs root is 0700: let other users through for the
	// test's duration.
	if st, err := os.Stat("/"); err == nil && st.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod("/", st.Mode().Perm()|0o111); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod("/", st.Mode().Perm()) })
	}
	dir, err := os.MkdirTemp("", "privileges-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "helper")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// helperMain runs in the helper process: it sets up mounts when asked
// (still with full capabilities), drops capabilities, runs the mode's
// operations and prints the report.
func helperMain(mode string) int {
	fn, ok := helperModes[mode]
	if !ok && helperExec[mode] == nil {
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		return 2
	}
	prepare := helperPrepare[mode]
	if prepare != nil {
		if err := prepare(); err != nil {
			fmt.Fprintf(os.Stderr, "preparing %s: %v\n", mode, err)
			return 1
		}
	}
	if os.Getuid() == 0 {
		if err := dropCaps(os.Getenv(capsEnv) == "net_admin"); err != nil {
			fmt.Fprintf(os.Stderr, "dropping capabilities: %v\n", err)
			return 1
		}
	}
	if argvOf := helperExec[mode]; argvOf != nil {
		return execAsContainer(argvOf)
	}
	r := report{CapEff: capEff(), Results: fn()}
	data, _ := json.Marshal(r)
	fmt.Printf("REPORT %s\n", data)
	return 0
}

// execAsContainer reports, sets no_new_privs (allowPrivilegeEscalation:
// false) and executes argv in place of the helper. Executed as root, the
// program gets the bounding set as its permitted and effective sets: the
// capabilities left, as in a container.
func execAsContainer(argvOf func() ([]string, error)) int {
	argv, err := argvOf()
	if err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "no command to execute: %v\n", err)
		return 2
	}
	data, _ := json.Marshal(report{CapEff: capEff()})
	fmt.Printf("REPORT %s\n", data)
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "PR_SET_NO_NEW_PRIVS: %v\n", e)
		return 1
	}
	err = syscall.Exec(argv[0], argv, []string{"PATH="})
	fmt.Fprintf(os.Stderr, "executing %s: %v\n", argv[0], err)
	return 1
}

var (
	helperModes   = map[string]func() map[string]string{}
	helperPrepare = map[string]func() error{}
	// helperExec modes execute a program once prepared and stripped of
	// capabilities, instead of running operations.
	helperExec = map[string]func() ([]string, error){}
)

// dropCaps empties the bounding set but for CAP_NET_ADMIN when keep, then
// sets the permitted, effective and inheritable sets to that, on every
// thread (capabilities are per thread; AllThreadsSyscall needs cgo off, as
// the VM's test binaries are built).
func dropCaps(keep bool) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if keep && c == unix.CAP_NET_ADMIN {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
			return fmt.Errorf("PR_CAPBSET_DROP %d: %w", c, e)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if keep {
		data[0].Effective = 1 << unix.CAP_NET_ADMIN
		data[0].Permitted = 1 << unix.CAP_NET_ADMIN
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

func lastCap() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	var n int
	_, err = fmt.Sscan(string(data), &n)
	return n, err
}

// capEff returns the CapEff line of /proc/self/status.
func capEff() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return "unknown"
}

// errString is "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
