package apiserver

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Default service ranges. Both are inside the ranges the project may send
// packets to: 198.18.0.0/15 and fd00::/8. /108 is the largest IPv6 range the
// API server's service IP allocator accepts.
const (
	DefaultServiceCIDR   = "198.18.0.0/16"
	DefaultServiceCIDRv6 = "fd00:198:18::/108"
)

// Files in the plane directory that the flags refer to.
const (
	caFile         = "ca.crt"
	servingCert    = "apiserver.crt"
	servingKey     = "apiserver.key"
	saKeyFile      = "service-account.key"
	etcdDataDir    = "etcd"
	adminUser      = "admin"
	mastersGroup   = "system:masters"
	loopback       = "127.0.0.1"
	kubeconfigName = "kubeconfig"
)

// etcdArgs returns the flags of a single-member etcd on loopback. fsync is off:
// the data lives for one test run and fsync dominates write latency.
func etcdArgs(dataDir string, clientPort, peerPort int) []string {
	client := "http://" + loopback + ":" + strconv.Itoa(clientPort)
	peer := "http://" + loopback + ":" + strconv.Itoa(peerPort)
	return []string{
		"--name=plane",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=plane=" + peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// apiServerArgs returns the kube-apiserver flags; files are relative to dir.
// extra flags come last so they override ours.
func apiServerArgs(dir, etcdURL string, port int, serviceCIDRs []string, extra []string) []string {
	file := func(name string) string { return dir + "/" + name }
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + loopback,
		"--advertise-address=" + loopback,
		"--secure-port=" + strconv.Itoa(port),
		// With the default reconciler a loopback advertise address is refused,
		// and without one the host's default-route address would land in the
		// default/kubernetes EndpointSlice for the daemon under test to program.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + file("apiserver-certs"),
		"--tls-cert-file=" + file(servingCert),
		"--tls-private-key-file=" + file(servingKey),
		"--client-ca-file=" + file(caFile),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + strings.Join(serviceCIDRs, ","),
		"--service-account-issuer=https://" + loopback + ":" + strconv.Itoa(port),
		"--service-account-key-file=" + file(saKeyFile),
		"--service-account-signing-key-file=" + file(saKeyFile),
		// No token controller runs, so ServiceAccount admission would reject pods.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		// Close open watches when stopping; by default the API server waits for
		// them until its 60s shutdown timeout, so every restart would take that long.
		"--shutdown-watch-termination-grace-period=2s",
		"--profiling=false",
	}
	return append(args, extra...)
}

// serviceCIDRs validates the IPv4 range and the optional IPv6 one and returns
// them in flag order with the first address of the primary range, which the
// API server gives to the default/kubernetes Service.
func serviceCIDRs(v4, v6 string) ([]string, netip.Addr, error) {
	if v4 == "" {
		v4 = DefaultServiceCIDR
	}
	p4, err := netip.ParsePrefix(v4)
	if err != nil || !p4.Addr().Is4() {
		return nil, netip.Addr{}, fmt.Errorf("service CIDR %q is not an IPv4 prefix", v4)
	}
	cidrs := []string{p4.Masked().String()}
	if v6 != "" {
		p6, err := netip.ParsePrefix(v6)
		if err != nil || !p6.Addr().Is6() || p6.Addr().Is4In6() {
			return nil, netip.Addr{}, fmt.Errorf("service CIDR %q is not an IPv6 prefix", v6)
		}
		cidrs = append(cidrs, p6.Masked().String())
	}
	return cidrs, p4.Masked().Addr().Next(), nil
}

// servingHosts are the names and addresses the serving certificate is valid
// for: loopback, the in-cluster names and address of the kubernetes Service,
// and whatever the caller adds (the VM suite's forwarded address).
func servingHosts(kubernetesIP netip.Addr, extra []string) []string {
	hosts := []string{
		loopback, "localhost", kubernetesIP.String(),
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	}
	return append(hosts, extra...)
}
