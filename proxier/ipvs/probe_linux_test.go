package ipvs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hasIPVS reports whether this machine's network namespace has IPVS; the
// failure paths of Probe can only be seen where it has not.
func hasIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

func TestProbeWithoutProcEntry(t *testing.T) {
	k := &Kernel{procPath: filepath.Join(t.TempDir(), "ip_vs")}
	err := k.Probe()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Probe = %v, want ErrUnavailable wrapping ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "ip_vs_rr") {
		t.Errorf("Probe error does not name the modules: %v", err)
	}
}

func TestProbeWithoutIPVSFamily(t *testing.T) {
	if hasIPVS() {
		t.Skip("this kernel has IPVS")
	}
	// Get past the /proc check to reach the generic netlink family lookup.
	k := &Kernel{procPath: "/proc/self/status", sock: openTestSocket(t)}
	if err := k.Probe(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "generic netlink family") {
		t.Fatalf("Probe = %v, want ErrUnavailable from the family lookup", err)
	}
}

// TestGetConfigWithoutIPVS checks that a moby/ipvs handle made without IPVS,
// which panics when reading the timeouts, yields ErrUnavailable instead.
func TestGetConfigWithoutIPVS(t *testing.T) {
	if hasIPVS() {
		t.Skip("this kernel has IPVS")
	}
	k, err := New()
	if err != nil {
		t.Skipf("no generic netlink socket here: %v", err)
	}
	defer k.Close()
	if hasIPVS() {
		t.Skip("moby/ipvs loaded ip_vs (it runs modprobe)")
	}
	if _, err := k.Timeouts(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Timeouts = %v, want ErrUnavailable", err)
	}
	if err := k.Probe(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
	// Writes must not reach family 0, where the kernel would acknowledge
	// them as successes.
	ops := opsForTest()
	if err := k.AddVirtualServer(ops[0].VS); !errors.Is(err, ErrUnavailable) {
		t.Errorf("AddVirtualServer = %v, want ErrUnavailable", err)
	}
	if err := k.DeleteRealServer(ops[1].VS.VSKey, ops[1].RS.RSKey); !errors.Is(err, ErrUnavailable) {
		t.Errorf("DeleteRealServer = %v, want ErrUnavailable", err)
	}
}

func TestApplyBatchWithoutIPVS(t *testing.T) {
	if hasIPVS() {
		t.Skip("this kernel has IPVS")
	}
	k := &Kernel{sock: openTestSocket(t)}
	ops := opsForTest()
	errs := k.ApplyBatch(ops)
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("op %d: err = %v, want ErrUnavailable", i, err)
		}
	}
}

// openTestSocket opens the raw socket (no privilege needed) for a Kernel
// built without New.
func openTestSocket(t *testing.T) *genlSocket {
	t.Helper()
	s, err := openGenlSocket()
	if err != nil {
		t.Skipf("no generic netlink socket here: %v", err)
	}
	t.Cleanup(s.close)
	return s
}
