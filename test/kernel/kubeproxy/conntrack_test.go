//go:build realkubeproxy

package kubeproxy_test

// TestRealKubeProxyConntrack runs on the host: with kubeadm's config.conf
// (every conntrack field null), the real kube-proxy v1.37.2 and ipvs-proxy
// each start once in the same VM, from the kernel's own conntrack values,
// and must leave the same nf_conntrack_max, hash size and timeouts; so must
// ipvs-proxy with the project's manifests/base/config.conf. Both values are
// also checked against sysctl.ConntrackSettings for the VM's CPU count.
// Then both start with /proc/sys and /sys read-only (bind-remounted in a
// mount namespace): kube-proxy exits with its error, ipvs-proxy reports it
// and serves /healthz.
//
//	go test -tags realkubeproxy -count=1 -v -run Conntrack ./test/kernel/kubeproxy

import (
	"context"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/cpuset"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// conntrackScript starts each proxy from the kernel's values, snapshots the
// conntrack parameters once it is up, stops it and restores the kernel's
// values. $1 is the guest's IPv4 node address.
const conntrackScript = `#!/bin/sh
set -u
for m in /share/*.ko; do
  name=$(basename "$m" .ko)
  grep -q "^$name " /proc/modules || insmod "$m" || exit 1
done
N=/proc/sys/net/netfilter
H=/sys/module/nf_conntrack/parameters/hashsize
snap() {
  for p in nf_conntrack_max nf_conntrack_tcp_timeout_established nf_conntrack_tcp_timeout_close_wait \
           nf_conntrack_tcp_be_liberal nf_conntrack_udp_timeout nf_conntrack_udp_timeout_stream; do
    echo "$p=$(cat $N/$p)"
  done
  echo "hashsize=$(cat $H)"
}
restore() {
  while IFS== read -r k v; do
    if [ "$k" = hashsize ]; then echo "$v" >$H; else echo "$v" >$N/$k; fi
  done </share/kernel.txt
}
wait_log() { # FILE PATTERN SECONDS
  i=0
  until grep -q "$2" "$1"; do
    i=$((i+1)); [ $i -gt "$3" ] && { echo "timeout waiting for $2 in $1" >>/share/errors.txt; return 1; }
    sleep 1
  done
}
cat /sys/devices/system/cpu/online >/share/cpus.txt
snap >/share/kernel.txt

start_kube_proxy() {
  /k8s/kube-proxy --config=/share/kubeadm.conf --hostname-override=vm --v=2 >/share/kube-proxy.log 2>&1 &
  pid=$!
  wait_log /share/kube-proxy.log 'running in .*-stack mode' 150
  kill $pid; wait $pid
}
start_kube_proxy; snap >/share/kube-proxy.txt; restore

run_ipvs_proxy() { # NAME ARGS...
  name=$1; shift
  /share/ipvs-proxy "$@" --hostname-override=vm --lame-duck-duration=0 --v=2 >/share/$name.log 2>&1 &
  pid=$!
  wait_log /share/$name.log '"Started"' 150
  kill $pid; wait $pid
  snap >/share/$name.txt; restore
}
run_ipvs_proxy ipvs-proxy-kubeadm --config=/share/kubeadm.conf
run_ipvs_proxy ipvs-proxy-base --config=/share/base.conf --kubeconfig=/share/kubeconfig

ro='mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys &&
    mount --bind /sys /sys && mount -o remount,bind,ro /sys && exec "$@"'
unshare -m sh -c "$ro" sh timeout 120 /k8s/kube-proxy --config=/share/kubeadm.conf --hostname-override=vm --v=2 \
  >/share/ro-kube-proxy.log 2>&1
echo "exit status $?" >>/share/ro-kube-proxy.log
snap >/share/ro-kube-proxy.txt

unshare -m sh -c "$ro" sh /share/ipvs-proxy --config=/share/kubeadm.conf --hostname-override=vm \
  --lame-duck-duration=0 --v=2 >/share/ro-ipvs-proxy.log 2>&1 &
pid=$!
wait_log /share/ro-ipvs-proxy.log '"Started"' 150
i=0
until wget -q -O /share/ro-healthz.txt http://127.0.0.1:10256/healthz; do
  i=$((i+1)); [ $i -gt 60 ] && { echo "no healthy /healthz with read-only /proc/sys" >>/share/errors.txt; break; }
  sleep 1
done
kill $pid; wait $pid
snap >/share/ro-ipvs-proxy.txt
`

// conntrackCPUs is the VM's CPU count: from 5 CPUs up kube-proxy's
// defaults give 32768 per CPU rather than the 131072 floor, so a wrong CPU
// count would show.
const conntrackCPUs = 6

func TestRealKubeProxyConntrack(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	apiserver.RequireBinaries(t, "kube-proxy")
	p := apiserver.ForTest(t, apiserver.Options{ExtraSANs: []string{guestAPIServer}})
	createVMNode(t, kubernetes.NewForConfigOrDie(p.Config()))
	dir := t.TempDir()
	if err := p.Admin().WriteKubeconfig(filepath.Join(dir, "kubeconfig"), "https://"+guestAPIServer+":6443"); err != nil {
		t.Fatal(err)
	}
	writeConntrackFiles(t, root, dir)
	copyRejectModules(t, root, dir)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "ipvs-proxy"), "./cmd/ipvs-proxy")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building ipvs-proxy: %v\n%s", err, out)
	}
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	vm := exec.Command(filepath.Join(root, "test/vm/run.sh"), "--share", dir, "--mount", apiserver.BinDir()+":/k8s:ro",
		"--apiserver", u.Host, "--smp", strconv.Itoa(conntrackCPUs), "--timeout", "600", "--", "sh", "./guest.sh")
	out, err := vm.CombinedOutput()
	t.Logf("VM:\n%s", out)
	if err != nil {
		t.Fatalf("guest script: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "errors.txt")); len(b) > 0 {
		for _, f := range []string{"kube-proxy.log", "ipvs-proxy-kubeadm.log", "ipvs-proxy-base.log", "ro-ipvs-proxy.log"} {
			l, _ := os.ReadFile(filepath.Join(dir, f))
			t.Logf("%s (tail):\n%s", f, tail(string(l), 30))
		}
		t.Fatalf("guest script:\n%s", b)
	}
	checkConntrackSame(t, dir)
	checkConntrackReadOnly(t, dir)
}

// writeConntrackFiles writes the guest script, kubeadm's config.conf (from
// the options tests' testdata, pointed at the VM's kubeconfig and a cluster
// CIDR of the test range; its conntrack section untouched) and
// manifests/base/config.conf.
func writeConntrackFiles(t *testing.T, root, dir string) {
	kubeadm, err := os.ReadFile(filepath.Join(root, "cmd/ipvs-proxy/options/testdata/kubeadm-config.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("/var/lib/kube-proxy/kubeconfig.conf", "/share/kubeconfig",
		"198.19.0.0/16,fd00:10:244::/56", "198.18.128.0/17").Replace(string(kubeadm))
	if !strings.Contains(conf, "  maxPerCore: null\n  min: null\n") || !strings.Contains(conf, "/share/kubeconfig") {
		t.Fatalf("kubeadm's config.conf is not what this test expects:\n%s", conf)
	}
	base, err := os.ReadFile(filepath.Join(root, "manifests/base/config.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"kubeadm.conf": []byte(conf), "base.conf": base, "guest.sh": []byte(conntrackScript)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// checkConntrackSame: kube-proxy changed the kernel's values; ipvs-proxy,
// from either file, left exactly what kube-proxy left; and that is what
// sysctl.ConntrackSettings computes for the VM's CPUs from kube-proxy's
// defaults.
func checkConntrackSame(t *testing.T, dir string) {
	kernel, kubeProxy := readParams(t, dir, "kernel.txt"), readParams(t, dir, "kube-proxy.txt")
	t.Logf("kernel: %v", kernel)
	t.Logf("kube-proxy v1.37.2: %v", kubeProxy)
	if kernel["nf_conntrack_max"] == kubeProxy["nf_conntrack_max"] {
		t.Errorf("kube-proxy left nf_conntrack_max at the kernel's %s: nothing to compare", kernel["nf_conntrack_max"])
	}
	for _, f := range []string{"ipvs-proxy-kubeadm.txt", "ipvs-proxy-base.txt"} {
		if diff := cmp.Diff(kubeProxy, readParams(t, dir, f)); diff != "" {
			t.Errorf("%s differs from kube-proxy's (-kube-proxy +ipvs-proxy):\n%s", f, diff)
		}
	}
	cpus, err := cpuset.Parse(strings.TrimSpace(readFile(t, dir, "cpus.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if cpus.Size() != conntrackCPUs {
		t.Errorf("the VM has %d CPUs online, want %d", cpus.Size(), conntrackCPUs)
	}
	want := expectedConntrack(t, kernel, cpus.Size())
	t.Logf("computed for %d CPUs: %v", cpus.Size(), want)
	if diff := cmp.Diff(want, kubeProxy); diff != "" {
		t.Errorf("kube-proxy's values differ from sysctl.ConntrackSettings' (-computed +kube-proxy):\n%s", diff)
	}
}

// expectedConntrack applies sysctl.ConntrackSettings for kube-proxy's
// defaults to the kernel's values.
func expectedConntrack(t *testing.T, kernel map[string]string, cpus int) map[string]string {
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	defaults := sysctl.Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}
	cur := sysctl.ConntrackCurrent{Max: atoi(kernel["nf_conntrack_max"]), Hashsize: atoi(kernel["hashsize"])}
	want := maps.Clone(kernel)
	for _, s := range sysctl.ConntrackSettings(defaults, cpus, cur) {
		name := strings.TrimPrefix(s.Name, "net.netfilter.")
		if s.Name == sysctl.ConntrackHashsizeName {
			name = "hashsize"
		}
		want[name] = s.Value
	}
	return want
}

// checkConntrackReadOnly: with /proc/sys and /sys read-only, kube-proxy
// exits with its error and changes nothing; ipvs-proxy reports the failure,
// changes nothing and is healthy.
func checkConntrackReadOnly(t *testing.T, dir string) {
	kernel := readParams(t, dir, "kernel.txt")
	kpLog, ipLog := readFile(t, dir, "ro-kube-proxy.log"), readFile(t, dir, "ro-ipvs-proxy.log")
	t.Logf("read-only, kube-proxy (tail):\n%s", tail(kpLog, 5))
	for _, want := range []string{"could not set conntrack parameters from kube-proxy configuration", "read-only file system"} {
		if !strings.Contains(kpLog, want) {
			t.Errorf("kube-proxy with a read-only /proc/sys did not log %q", want)
		}
	}
	if strings.Contains(kpLog, "exit status 0") || strings.Contains(kpLog, "exit status 124") {
		t.Errorf("kube-proxy with a read-only /proc/sys did not fail at start")
	}
	report := logEntry(ipLog, "Could not set conntrack parameters")
	t.Logf("read-only, ipvs-proxy:\n%s", report)
	if !strings.Contains(report, "readOnly=true") || !strings.Contains(report, "read-only file system") {
		t.Errorf("ipvs-proxy's report does not say read-only: %s", report)
	}
	if report == "" || !strings.Contains(ipLog, `"Started"`) {
		t.Errorf("ipvs-proxy with a read-only /proc/sys did not report and start:\n%s", tail(ipLog, 30))
	}
	t.Logf("read-only, ipvs-proxy /healthz: %s", readFile(t, dir, "ro-healthz.txt"))
	for _, f := range []string{"ro-kube-proxy.txt", "ro-ipvs-proxy.txt"} {
		if diff := cmp.Diff(kernel, readParams(t, dir, f)); diff != "" {
			t.Errorf("%s: a read-only /proc/sys was written (-kernel +after):\n%s", f, diff)
		}
	}
}

// klogHeader starts a klog text line: severity and date ("E1206 ").
var klogHeader = regexp.MustCompile(`^[IWEF]\d{4} `)

// logEntry returns the klog entry holding msg, with the continuation lines
// of its multi-line values, or "".
func logEntry(log, msg string) string {
	var entry []string
	for _, l := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(l, msg):
			entry = append(entry, l)
		case len(entry) > 0 && !klogHeader.MatchString(l):
			entry = append(entry, l)
		case len(entry) > 0:
			return strings.Join(entry, "\n")
		}
	}
	return strings.Join(entry, "\n")
}

// createVMNode registers the VM's Node, so that kube-proxy finds its node
// IP at once instead of waiting 30 s for it.
func createVMNode(t *testing.T, c kubernetes.Interface) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vm"}}
	created, err := c.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "198.19.255.15"}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readParams parses a snapshot of name=value lines.
func readParams(t *testing.T, dir, name string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, dir, name)), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", name, l)
		}
		m[k] = v
	}
	return m
}

func readFile(t *testing.T, dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
