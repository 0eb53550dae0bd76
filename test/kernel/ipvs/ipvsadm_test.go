//go:build vmtest

package ipvs_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// ipvsadm runs the ipvsadm CLI of the guest. Only tests use it, as an
// independent reader and writer of the kernel's table; the daemon never
// runs it.
func ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipvsadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sortedLines splits text into sorted non-empty lines.
func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// TestIpvsadmReadsWhatWeWrite writes a varied table through the adapter and
// checks that `ipvsadm -Sn` prints, line for line, what the model's
// formatting (and so Fake.Dump) prints for it.
func TestIpvsadmReadsWhatWeWrite(t *testing.T) {
	reset(t)
	svcs := []*model.Service{
		{VirtualServer: makeVS("198.18.0.10", 80), Reals: []model.RealServer{makeRS("198.18.1.1", 8080, 1), makeRS("198.18.1.2", 8080, 0)}},
		{VirtualServer: makeVS("198.18.0.10", 53, withProto(model.UDP), withPersistence(10800)), Reals: []model.RealServer{makeRS("198.18.1.1", 53, 1)}},
		{VirtualServer: makeVS("198.18.0.11", 9, withProto(model.SCTP), withSched("sh", model.FlagSched1|model.FlagSched2))},
		{VirtualServer: makeVS("fd00::10", 443, withSched("mh", model.FlagSched2)), Reals: []model.RealServer{makeRS("fd00::1:1", 8443, 1)}},
		{VirtualServer: makeVS("fd00::11", 80, withSched("wrr", 0), withPersistence(60))},
	}
	for _, s := range svcs {
		if err := kernel.AddVirtualServer(s.VirtualServer); err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Reals {
			if err := kernel.AddRealServer(s.VSKey, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := sortedLines(dump(svcs))
	got := sortedLines(ipvsadm(t, "-Sn"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ipvsadm -Sn disagrees with the model's dump (-model +ipvsadm):\n%s", diff)
	}
}

// TestListAdoptsIpvsadmTable creates a table with ipvsadm, as an operator or
// kube-proxy's IPVS mode leaves it, and checks ListServices reads it
// exactly, leaving out the firewall-mark service.
func TestListAdoptsIpvsadmTable(t *testing.T) {
	reset(t)
	for _, cmd := range [][]string{
		{"-A", "-t", "198.18.0.10:80", "-s", "rr"},
		{"-a", "-t", "198.18.0.10:80", "-r", "198.18.1.1:8080", "-m", "-w", "1"},
		{"-a", "-t", "198.18.0.10:80", "-r", "198.18.1.2:8080", "-m", "-w", "0"},
		{"-A", "-u", "[fd00::10]:53", "-s", "sh", "-b", "sh-fallback,sh-port", "-p", "300"},
		{"-a", "-u", "[fd00::10]:53", "-r", "[fd00::1:1]:53", "-m", "-w", "1"},
		{"-A", "-f", "5", "-s", "rr"},
	} {
		ipvsadm(t, cmd...)
	}
	t.Cleanup(func() { _, _ = exec.Command("ipvsadm", "-D", "-f", "5").CombinedOutput() })
	checkTable(t,
		&model.Service{VirtualServer: makeVS("198.18.0.10", 80),
			Reals: []model.RealServer{makeRS("198.18.1.1", 8080, 1), makeRS("198.18.1.2", 8080, 0)}},
		&model.Service{VirtualServer: makeVS("fd00::10", 53, withProto(model.UDP), withSched("sh", model.FlagSched1|model.FlagSched2), withPersistence(300)),
			Reals: []model.RealServer{makeRS("fd00::1:1", 53, 1)}},
	)
}
