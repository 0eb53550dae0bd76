//go:build realkubeproxy

package kubeproxy_test

// TestRealKubeProxyLeftovers runs on the host: it starts a kube-apiserver
// (test/apiserver), boots the VM (test/vm/run.sh) with the API server
// forwarded, runs the real kube-proxy v1.37.2 in IPVS mode there until it
// has programmed a NodePort and a LoadBalancer service with source ranges,
// stops it, and runs `ipvs-proxy --cleanup --cleanup-kube-proxy`. Nothing
// of kube-proxy's may be left: no KUBE-* chain or set in any iptables
// backend or family, no virtual server, no kube-ipvs0.
//
//	go test -tags realkubeproxy -count=1 -v ./test/kernel/kubeproxy

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-proxy/ipvs-proxy/test/apiserver"
)

// guestAPIServer is where the VM reaches the forwarded API server.
const guestAPIServer = "198.19.255.100"

// guestScript runs kube-proxy until its rules and sets are in place,
// snapshots the node, cleans up, and snapshots again.
const guestScript = `#!/bin/sh
set -u
for m in /share/*.ko; do
  name=$(basename "$m" .ko)
  grep -q "^$name " /proc/modules || insmod "$m" || exit 1
done
/k8s/kube-proxy --proxy-mode=ipvs --kubeconfig=/share/kubeconfig --hostname-override=vm \
  --cluster-cidr=198.18.128.0/17 --v=2 >/share/kube-proxy.log 2>&1 &
kp=$!
i=0
until iptables-save -t filter 2>/dev/null | grep -q -- '-A KUBE-PROXY-FIREWALL' &&
      ipset list KUBE-LOAD-BALANCER-FW 2>/dev/null | grep -q 198.19.50.1; do
  i=$((i+1))
  if [ $i -gt 150 ]; then echo "kube-proxy did not sync"; tail -40 /share/kube-proxy.log; exit 1; fi
  sleep 1
done
kill $kp; wait $kp
snapshot() {
  for t in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do
    echo "== $t"; $t 2>&1 | grep -v '^#'
  done
  echo "== ipset list -n"; ipset list -n
  echo "== ipvsadm -Ln"; ipvsadm -Ln
  echo "== links"; ip -o link show
}
snapshot >/share/before.txt
./ipvs-proxy --cleanup --cleanup-kube-proxy --v=2 >/share/cleanup.log 2>&1
echo "exit status $?" >>/share/cleanup.log
snapshot >/share/after.txt
`

func TestRealKubeProxyLeftovers(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	apiserver.RequireBinaries(t, "kube-proxy")
	p := apiserver.ForTest(t, apiserver.Options{ExtraSANs: []string{guestAPIServer}})
	createServices(t, kubernetes.NewForConfigOrDie(p.Config()))

	dir := t.TempDir()
	if err := p.Admin().WriteKubeconfig(filepath.Join(dir, "kubeconfig"), "https://"+guestAPIServer+":6443"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "guest.sh"), []byte(guestScript), 0o755); err != nil {
		t.Fatal(err)
	}
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
	for _, f := range []string{"cleanup.log", "before.txt", "after.txt"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		t.Logf("%s:\n%s", f, b)
	}
	if err != nil {
		kp, _ := os.ReadFile(filepath.Join(dir, "kube-proxy.log"))
		t.Fatalf("guest script: %v\nkube-proxy log tail:\n%s", err, tail(string(kp), 40))
	}
	checkSnapshots(t, dir)
}

// checkSnapshots: kube-proxy had written its chains and sets; after the
// cleanup none of its objects is left, and the cleanup exited 0.
func checkSnapshots(t *testing.T, dir string) {
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before, after, log := read("before.txt"), read("after.txt"), read("cleanup.log")
	for _, want := range []string{":KUBE-SERVICES", ":KUBE-PROXY-FIREWALL", ":KUBE-IPVS-FILTER", "KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER-FW", "kube-ipvs0", "TCP  198.19.50.1:80"} {
		if !strings.Contains(before, want) {
			t.Errorf("kube-proxy had not written %q", want)
		}
	}
	if !strings.Contains(log, "exit status 0") {
		t.Errorf("the cleanup failed:\n%s", log)
	}
	for _, l := range strings.Split(after, "\n") {
		if strings.Contains(l, "KUBE-") || strings.Contains(l, "kube-ipvs0") || strings.HasPrefix(l, "TCP ") || strings.HasPrefix(l, "UDP ") {
			t.Errorf("left after the cleanup: %s", l)
		}
	}
}

// createServices makes kube-proxy program a NodePort service and a
// LoadBalancer service with source ranges, each with one endpoint.
func createServices(t *testing.T, c kubernetes.Interface) {
	ctx := context.Background()
	for _, s := range []*v1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: v1.ServiceSpec{
			Type:  v1.ServiceTypeNodePort,
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: v1.ProtocolTCP}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "default"}, Spec: v1.ServiceSpec{
			Type:                     v1.ServiceTypeLoadBalancer,
			LoadBalancerSourceRanges: []string{"198.18.0.0/16"},
			Ports:                    []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}},
		}},
	} {
		created, err := c.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec.Type == v1.ServiceTypeLoadBalancer {
			created.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "198.19.50.1"}}
			if _, err := c.CoreV1().Services("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		ready := true
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: s.Name + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: s.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.19.3.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(v1.ProtocolTCP)}},
		}
		if _, err := c.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// copyRejectModules copies the REJECT targets' modules of the VM's kernel
// into the share: kube-proxy's IPVS mode writes `-j REJECT`. test/vm now
// loads them at boot too; the guest script loads only what is missing.
func copyRejectModules(t *testing.T, root, dir string) {
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
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
