//go:build vmtest

package kubeproxy_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the kubeproxy kernel tests need root (run them in the VM: test/vm/gotest.sh ./test/kernel/kubeproxy)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// node is a named network namespace owned by one test, standing for a
// node: the iptables and ipset tools run in it with `ip netns exec`.
type node struct {
	name string
	fd   netns.NsHandle
}

var nodes atomic.Int32

// newNode creates a namespace, removed when the test ends.
func newNode(t *testing.T) *node {
	t.Helper()
	name := fmt.Sprintf("kubeproxy-%d", nodes.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	fd, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("opening netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		fd.Close()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	return &node{name: name, fd: fd}
}

// run runs a command in the namespace with stdin, and returns its output.
func (n *node) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := n.exec(stdin, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s\nstdin:\n%s", strings.Join(args, " "), err, out, stdin)
	}
	return out
}

func (n *node) exec(stdin string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// backend is an iptables implementation, as the tools name it.
type backend string

const (
	nftBackend    backend = "nft"
	legacyBackend backend = "legacy"
)

// load lays out the owners' rules and sets in both families with the
// backend's iptables-restore.
func (n *node) load(t *testing.T, b backend, owners ...string) {
	t.Helper()
	for _, f := range []family{ipv4, ipv6} {
		n.run(t, render(setsLayout, f, owners...), "ipset", "restore")
		n.run(t, render(iptablesLayout, f, owners...), fmt.Sprintf("%s-%s-restore", f.iptables, b))
	}
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// save returns the backend's iptables-save of both families, normalised:
// no comments or counters, chain declarations sorted within each table.
func (n *node) save(t *testing.T, b backend) string {
	t.Helper()
	var out []string
	for _, f := range []family{ipv4, ipv6} {
		var decls []string
		for _, l := range strings.Split(n.run(t, "", fmt.Sprintf("%s-%s-save", f.iptables, b)), "\n") {
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
			case strings.HasPrefix(l, ":"):
				decls = append(decls, f.name+" "+counters.ReplaceAllString(l, "[0:0]"))
			default:
				slices.Sort(decls)
				out = append(append(out, decls...), f.name+" "+l)
				decls = nil
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// sets returns the namespace's ipset names, sorted.
func (n *node) sets(t *testing.T) []string {
	t.Helper()
	names := strings.Fields(n.run(t, "", "ipset", "list", "-n"))
	slices.Sort(names)
	return names
}
