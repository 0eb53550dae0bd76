// Package scenarios holds the end-to-end scenarios of issue 6. Each TestNN
// function is one scenario; it runs as root inside the test VM (build tag
// e2eguest), against the real kernel and a real kube-apiserver on the host,
// with real packets between network namespaces:
//
//	01 ClusterIP balancing, NodePort, LoadBalancer ingress IP, ExternalIP, IPv6;
//	   the kubernetes-mixin's series in /metrics
//	02 session affinity
//	03 source hashing (sh, mh) and its fallback when a backend drains
//	04 graceful drain of a terminating endpoint; reset once it is removed
//	05 a dead backend, bounded by --drain-timeout
//	06 UDP backend replacement: bounded loss, stale conntrack entries flushed
//	07 SIGKILL and restart of the daemon: no failed request, no kernel write
//	08 API-server restart
//	09 hairpin, externalTrafficPolicy Local health checks, source ranges
//	10 --cleanup
//	11 adoption of kube-proxy's IPVS state
//	12 safety: a foreign virtual server, endpoints and schedulers the kernel
//	   refuses, a Service claiming the node's own address
//	13 an edited --config (a ConfigMap volume): the same bytes and a refused
//	   file ignored; a change exits 0 after the lame duck, kernel untouched
//	14 detect-local-mode BridgeInterface and InterfaceNamePrefix, masquerading
//	   the same connections as kube-proxy v1.37.2 run on the same node
//
// The host side (test/e2e, `make e2e`) compiles this package with
// `go test -c -tags e2eguest`, lists its tests and boots one VM per scenario,
// so that no scenario sees another's kernel state. On the host, without the
// tag, the package has no tests.
package scenarios
