//go:build realkubeproxy

package sidebyside

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

const (
	// guestAPIServer is where the VM reaches the forwarded API server.
	guestAPIServer = "198.19.255.100"
	// nodeIP is the guest's eth0 address (test/vm/README.md).
	nodeIP = "198.19.255.15"
	// canaryIP is the canary Service's cluster IP, in the block kube-proxy
	// is told to leave alone.
	canaryIP    = "198.18.255.10"
	canaryBlock = "198.18.255.0/24"
	// nodeSubnets are the guest's own networks: both proxies take node
	// ports only there, and ipvs-proxy leaves everything there alone.
	nodeSubnets = "198.19.255.0/24,fd00:198:19:255::/64"
)

// guestScript runs both proxies as the guide's canary section says, waits
// for both to program their services, lets several full syncs pass and
// snapshots IPVS twice; then stops both, runs the guide's leftovers removal
// and snapshots the node before and after it. Then the handover: kube-proxy
// runs again (re-creating its chains and sets) and stops, ipvs-proxy takes
// the node over (kube-ipvs0, every unlabelled Service) and, while it runs,
// `ipvs-proxy --cleanup-kube-proxy` removes kube-proxy's leftovers; the node
// is snapshot before and after that.
const guestScript = `#!/bin/sh
set -u
for m in /share/*.ko; do insmod "$m" 2>/dev/null; done
kube_proxy() {
  /k8s/kube-proxy --proxy-mode=ipvs --kubeconfig=/share/kubeconfig --hostname-override=vm \
    --cluster-cidr=198.18.128.0/17 --ipvs-sync-period=3s --ipvs-exclude-cidrs=` + canaryBlock + ` \
    --nodeport-addresses=` + nodeSubnets + ` --v=4 >>/share/kube-proxy.log 2>&1 &
  kp=$!
}
wait_for() { # seconds, message, condition...
  n=$1 msg=$2; shift 2; i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i+1))
    if [ $i -gt $n ]; then echo "$msg"; ipvsadm -Sn; exit 1; fi
    sleep 1
  done
}
kube_proxy
/share/ipvs-proxy --kubeconfig=/share/kubeconfig --hostname-override=vm --cluster-cidr=198.18.128.0/17 \
  --service-proxy-name=ipvs-proxy --dummy-interface=ipvs-proxy0 \
  --ipvs-exclude-cidrs=` + nodeSubnets + ` --nodeport-addresses=` + nodeSubnets + ` \
  --healthz-bind-address=0.0.0.0:10266 --metrics-bind-address=127.0.0.1:10269 \
  --ipvs-sync-period=3s --v=2 >/share/ipvs-proxy.log 2>&1 &
ip=$!
i=0
until ipvsadm -Sn | grep -q -- "-A -t ` + canaryIP + `:80" && ipvsadm -Sn | grep -q -- ":30080 " &&
      iptables-save -t filter 2>/dev/null | grep -q -- '-A KUBE-IPVS-FILTER'; do
  i=$((i+1))
  if [ $i -gt 150 ]; then echo "the proxies did not program their services"; ipvsadm -Sn; exit 1; fi
  sleep 1
done
sleep 12
ipvsadm -Sn | sort >/share/ipvs-1.txt
sleep 9
ipvsadm -Sn | sort >/share/ipvs-2.txt
{ ip -o addr show dev kube-ipvs0; ip -o addr show dev ipvs-proxy0; ip route show table local; } >/share/addrs.txt
kill $ip; wait $ip
kill $kp; wait $kp
snapshot() {
  for t in iptables-save ip6tables-save; do echo "== $t"; $t 2>&1 | grep -v '^#'; done
  echo "== ipset list -n"; ipset list -n
  echo "== ipvsadm -Sn"; ipvsadm -Sn
  echo "== links"; ip -o link show
  echo "== nft list tables"; nft list tables
}
snapshot >/share/before.txt
sh /share/cleanup.sh >/share/cleanup.log 2>&1
snapshot >/share/after.txt

kube_proxy
wait_for 150 "kube-proxy did not write its chains and sets again" sh -c \
  "iptables-save -t filter | grep -q -- '-A KUBE-IPVS-FILTER' && ip6tables-save -t filter | grep -q -- '-A KUBE-IPVS-FILTER' && ipset list -n | grep -q KUBE-6-CLUSTER-IP"
kill $kp; wait $kp
/share/ipvs-proxy --kubeconfig=/share/kubeconfig --hostname-override=vm --cluster-cidr=198.18.128.0/17 \
  --ipvs-sync-period=3s --v=2 >/share/ipvs-proxy-handover.log 2>&1 &
ip=$!
wait_for 150 "ipvs-proxy did not take over" nft list table ip ipvs-proxy
sleep 4
snapshot >/share/handover-before.txt
/share/ipvs-proxy --cleanup-kube-proxy --v=2 >/share/cleanup-kube-proxy.log 2>&1
echo "exit $?" >>/share/cleanup-kube-proxy.log
snapshot >/share/handover-after.txt
sleep 4
snapshot >/share/handover-later.txt
kill $ip; wait $ip
`

// TestCanaryAndLeftovers: see the package documentation.
func TestCanaryAndLeftovers(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	apiserver.RequireBinaries(t, apiserver.KubeAPIServer, apiserver.Etcd, apiserver.KubeProxy)
	p := apiserver.ForTest(t, apiserver.Options{ExtraSANs: []string{guestAPIServer}})
	webIP, highIP := createObjects(t, kubernetes.NewForConfigOrDie(p.Config()))

	dir := t.TempDir()
	if err := p.Admin().WriteKubeconfig(filepath.Join(dir, "kubeconfig"), "https://"+guestAPIServer+":6443"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "guest.sh"), guestScript)
	write(t, filepath.Join(dir, "cleanup.sh"), guideBlock(t, root, guideLeftoversMarker))
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
		"--apiserver", u.Host, "--timeout", "400", "--", "sh", "./guest.sh")
	out, err := vm.CombinedOutput()
	t.Logf("VM:\n%s", out)
	if err != nil {
		for _, f := range []string{"kube-proxy.log", "ipvs-proxy.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			t.Logf("%s (end):\n%s", f, tail(string(b), 30))
		}
		t.Fatalf("guest script: %v", err)
	}
	checkCanary(t, dir, webIP, highIP)
	checkLeftovers(t, dir, webIP)
	checkHandoverCleanup(t, dir, webIP)
}

// checkCanary: both proxies' virtual servers are there, and stay the same
// across full syncs of both: neither deletes the other's.
func checkCanary(t *testing.T, dir, webIP, highIP string) {
	t.Helper()
	first, second := read(t, dir, "ipvs-1.txt"), read(t, dir, "ipvs-2.txt")
	t.Logf("IPVS with both proxies:\n%s", first)
	for _, want := range []string{
		"-A -t " + canaryIP + ":80 -s rr",                 // ipvs-proxy's canary
		"-a -t " + canaryIP + ":80 -r 198.19.3.3:8080 -m", // and its real server
		"-A -t " + webIP + ":80 -s rr",                    // kube-proxy's cluster IP
		"-A -t " + nodeIP + ":30080 -s rr",                // kube-proxy's node port
		"-A -t " + highIP + ":30500 -s rr",                // kube-proxy's port in the node-port range
	} {
		if !strings.Contains(first, want) {
			t.Errorf("missing from IPVS: %s", want)
		}
	}
	if strings.Contains(first+second, canaryIP+":30080") {
		t.Errorf("kube-proxy put a node port on the canary's address (bound on ipvs-proxy0)")
	}
	if first != second {
		t.Errorf("IPVS changed between two snapshots 9s apart (3 full syncs of each proxy):\n%s\nthen:\n%s", first, second)
	}
	// Bound, for an IPv4 address, is a local route in table local:
	// kube-proxy's address on kube-ipvs0 has the kernel's, ipvs-proxy binds
	// one of its own (through lo, protocol 107) and no address.
	addrs := read(t, dir, "addrs.txt")
	if !regexp.MustCompile(`(?m)^local `+regexp.QuoteMeta(canaryIP)+` dev lo proto 107 `).MatchString(addrs) ||
		!regexp.MustCompile(`(?m)^local `+regexp.QuoteMeta(webIP)+` dev kube-ipvs0 `).MatchString(addrs) {
		t.Errorf("each proxy should bind its own addresses:\n%s", addrs)
	} else {
		t.Logf("Bound by the proxies:\n%s", addrs)
	}
	for _, l := range strings.Split(read(t, dir, "kube-proxy.log"), "\n") {
		if strings.Contains(l, "Delete service") && strings.Contains(l, canaryIP) {
			t.Errorf("kube-proxy deleted the canary's virtual server: %s", l)
		}
	}
}

// kubeProxyObjects are the chains and sets of kube-proxy's IPVS mode.
var kubeProxyObjects = regexp.MustCompile(`KUBE-(SERVICES|POSTROUTING|NODE-PORT|LOAD-BALANCER|MARK-MASQ|FORWARD|PROXY-FIREWALL|SOURCE-RANGES-FIREWALL|IPVS-FILTER|IPVS-OUT-FILTER|LOOP-BACK|CLUSTER-IP|EXTERNAL-IP|HEALTH-CHECK-NODE-PORT|IPVS-IPS|6-)`)

// checkLeftovers: kube-proxy had written its chains and sets; after the
// guide's commands none is left, and the IPVS table and kube-ipvs0 are as
// they were.
func checkLeftovers(t *testing.T, dir, webIP string) {
	t.Helper()
	checkKubeProxyRemoved(t, read(t, dir, "before.txt"), read(t, dir, "after.txt"), webIP, "the guide's commands")
	if t.Failed() {
		t.Logf("cleanup.log:\n%s", read(t, dir, "cleanup.log"))
	}
}

// checkHandoverCleanup: with ipvs-proxy running in kube-proxy's place,
// `ipvs-proxy --cleanup-kube-proxy` removed kube-proxy's chains and sets and
// nothing else: the IPVS table, kube-ipvs0 and ipvs-proxy's nftables tables
// are as they were, and stay so over the running daemon's next full sync.
func checkHandoverCleanup(t *testing.T, dir, webIP string) {
	t.Helper()
	before, after, later := read(t, dir, "handover-before.txt"), read(t, dir, "handover-after.txt"), read(t, dir, "handover-later.txt")
	log := read(t, dir, "cleanup-kube-proxy.log")
	checkKubeProxyRemoved(t, before, after, webIP, "--cleanup-kube-proxy")
	if section(after, "== ipvsadm -Sn\n", "== links") != section(later, "== ipvsadm -Sn\n", "== links") {
		t.Errorf("the IPVS table changed at the daemon's next full sync:\n%s", section(later, "== ipvsadm -Sn\n", "== links"))
	}
	for name, s := range map[string]string{"before": before, "after": after, "later": later} {
		if !strings.Contains(section(s, "== nft list tables\n", "\x00"), "table ip ipvs-proxy") {
			t.Errorf("%s the cleanup: no table ip ipvs-proxy", name)
		}
	}
	if !strings.Contains(log, "exit 0") || !strings.Contains(log, `"Cleaned up kube-proxy's leftovers"`) || !strings.Contains(log, "left=0") {
		t.Errorf("--cleanup-kube-proxy did not report a complete cleanup")
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Cleaned up kube-proxy's leftovers") {
			t.Logf("--cleanup-kube-proxy beside the running daemon: %s", l)
		}
	}
	if strings.Contains(log, "Cleaned up\"") {
		t.Errorf("--cleanup-kube-proxy ran ipvs-proxy's own cleanup")
	}
	if t.Failed() {
		t.Logf("cleanup-kube-proxy.log:\n%s", log)
		t.Logf("ipvs-proxy-handover.log (end):\n%s", tail(read(t, dir, "ipvs-proxy-handover.log"), 30))
	}
}

// checkKubeProxyRemoved: kube-proxy had written its chains and sets; after
// the removal by how none is left, and the IPVS table and kube-ipvs0 are as
// they were.
func checkKubeProxyRemoved(t *testing.T, before, after, webIP, how string) {
	t.Helper()
	for _, want := range []string{":KUBE-SERVICES", ":KUBE-IPVS-FILTER", "KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP", "KUBE-NODE-PORT-TCP"} {
		if !strings.Contains(before, want) {
			t.Errorf("before %s: kube-proxy had not written %q", how, want)
		}
	}
	for _, l := range strings.Split(after, "\n") {
		if kubeProxyObjects.MatchString(l) {
			t.Errorf("left after %s: %s", how, l)
		}
	}
	ipvsOf := func(s string) string { return section(s, "== ipvsadm -Sn\n", "== links") }
	if ipvsOf(before) != ipvsOf(after) || !strings.Contains(ipvsOf(after), webIP+":80") {
		t.Errorf("%s changed the IPVS table:\n%s\nthen:\n%s", how, ipvsOf(before), ipvsOf(after))
	}
	if !strings.Contains(section(after, "== links", "== nft"), "kube-ipvs0") {
		t.Errorf("after %s kube-ipvs0 is gone", how)
	}
}

// section returns the text of s between from and to (or its end).
func section(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	out, _, _ := strings.Cut(rest, to)
	return out
}

// createObjects creates the node, kube-proxy's NodePort service and the
// canary service with their slices, and returns the NodePort service's
// cluster IP.
func createObjects(t *testing.T, c kubernetes.Interface) (webIP, highIP string) {
	t.Helper()
	ctx := t.Context()
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vm"}}
	node, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: nodeIP}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	canaryLabels := map[string]string{"service.kubernetes.io/service-proxy-name": "ipvs-proxy"}
	for _, tc := range []struct {
		svc      *v1.Service
		endpoint string
	}{
		{&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: v1.ServiceSpec{
			Type:  v1.ServiceTypeNodePort,
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: v1.ProtocolTCP}},
		}}, "198.19.3.2"},
		// A service port inside the node-port range, on a cluster IP.
		{&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "high", Namespace: "default"}, Spec: v1.ServiceSpec{
			Ports: []v1.ServicePort{{Name: "http", Port: 30500, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}},
		}}, "198.19.3.4"},
		{&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "default", Labels: canaryLabels}, Spec: v1.ServiceSpec{
			ClusterIP: canaryIP,
			Ports:     []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}},
		}}, "198.19.3.3"},
	} {
		created, err := c.CoreV1().Services("default").Create(ctx, tc.svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch created.Name {
		case "web":
			webIP = created.Spec.ClusterIP
		case "high":
			highIP = created.Spec.ClusterIP
		}
		labels := map[string]string{discoveryv1.LabelServiceName: created.Name}
		for k, v := range created.Labels {
			labels[k] = v // as the EndpointSlice controller copies them
		}
		ready := true
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: created.Name + "-1", Namespace: "default", Labels: labels},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{tc.endpoint}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(v1.ProtocolTCP)}},
		}
		if _, err := c.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return webIP, highIP
}

// guideLeftoversMarker is the text in the guide after which its shell
// block removing kube-proxy's leftovers by hand comes.
const guideLeftoversMarker = "Remove kube-proxy's leftovers by hand"

// guideBlock returns the first ```sh block after the paragraph that
// contains marker in docs/migrating-from-kube-proxy.md.
func guideBlock(t *testing.T, root, marker string) string {
	t.Helper()
	doc := read(t, filepath.Join(root, "docs"), "migrating-from-kube-proxy.md")
	_, after, ok := strings.Cut(doc, marker)
	if !ok {
		t.Fatalf("the guide has no %q", marker)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("no shell block after %q", marker)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// copyRejectModules copies the REJECT targets' modules of the VM's kernel
// into the share: kube-proxy's IPVS mode writes `-j REJECT`, and the VM's
// boot modules (test/vm/modules.txt) lack ipt_REJECT and ip6t_REJECT.
func copyRejectModules(t *testing.T, root, dir string) {
	t.Helper()
	cache := os.Getenv("IPVS_VM_CACHE")
	if cache == "" {
		cache = filepath.Join(root, "test/vm/.cache")
	}
	for _, m := range []string{"ipv4/netfilter/ipt_REJECT.ko", "ipv6/netfilter/ip6t_REJECT.ko"} {
		found, _ := filepath.Glob(filepath.Join(cache, "kernel/*/lib/modules/*/kernel/net", m))
		if len(found) == 0 {
			t.Logf("%s is not in the VM cache: kube-proxy's rules may not load", m)
			continue
		}
		b, err := os.ReadFile(found[0])
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, filepath.Base(m)), string(b))
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func ptr[T any](v T) *T { return &v }
