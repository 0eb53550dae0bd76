//go:build vmtest

package smoke

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestGuestEnvironment checks what test/vm/README.md promises to every test.
func TestGuestEnvironment(t *testing.T) {
	if os.Getenv("IPVS_VM") != "1" {
		t.Fatal("IPVS_VM is not 1: this binary is meant to run inside test/vm/run.sh")
	}
	if os.Geteuid() != 0 {
		t.Errorf("euid = %d, want 0", os.Geteuid())
	}
	for _, dir := range []string{"/run/netns", "/tmp", "/proc/sys/net/ipv4/vs", "/sys/class/net"} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory: %v", dir, err)
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("Looking up lo: %v", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("lo is down")
	}
}

// TestModulesLoaded checks that every module of test/vm/modules.txt is live
// (or built into the kernel).
func TestModulesLoaded(t *testing.T) {
	list, err := os.ReadFile("/etc/vm-modules")
	if err != nil {
		t.Fatal(err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	builtin, err := os.ReadFile("/lib/modules/" + unix.ByteSliceToString(uts.Release[:]) + "/modules.builtin")
	if err != nil {
		t.Fatal(err)
	}
	mods := strings.Fields(string(list))
	if len(mods) < 50 {
		t.Errorf("/etc/vm-modules lists %d modules, want the ~90 of modules.txt", len(mods))
	}
	for _, m := range mods {
		if _, err := os.Stat("/sys/module/" + m); err != nil && !strings.Contains(string(builtin), "/"+m+".ko") {
			t.Errorf("module %s is not loaded", m)
		}
	}
}

// TestNftablesTable creates a table with a set of IPv4 addresses, reads both
// back, and deletes the table.
func TestNftablesTable(t *testing.T) {
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "ipvs-smoke"})
	set := &nftables.Set{Table: table, Name: "vips", KeyType: nftables.TypeIPAddr}
	elems := []nftables.SetElement{{Key: net.ParseIP("198.18.100.1").To4()}}
	if err := c.AddSet(set, elems); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Creating table: %v", err)
	}
	defer func() {
		c.DelTable(table)
		if err := c.Flush(); err != nil {
			t.Errorf("Deleting table: %v", err)
		}
	}()
	got, err := c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !net.IP(got[0].Key).Equal(net.ParseIP("198.18.100.1")) {
		t.Errorf("set elements = %v, want [198.18.100.1]", got)
	}
}

// TestAPIServerForward dials the host through run.sh --apiserver; smoke.sh
// serves a greeting there and passes it in SMOKE_GREETING.
func TestAPIServerForward(t *testing.T) {
	addr, want := os.Getenv("IPVS_VM_APISERVER"), os.Getenv("SMOKE_GREETING")
	if addr == "" || want == "" {
		t.Skip("no --apiserver forward in this run")
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != want {
		t.Errorf("host said %q, want %q", got, want)
	}
}
