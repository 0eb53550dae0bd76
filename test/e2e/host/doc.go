// Package host is the outside of the end-to-end suite: what runs on the
// host, around the test VM.
//
//	Build     ─► static binaries: the daemon, the scenarios' test binary
//	             (go test -c -tags e2eguest) and the demo
//	Start     ─► a real kube-apiserver + etcd on 127.0.0.1 (test/apiserver),
//	             dual-stack, whose certificate also names the guest's address
//	             for it; a share directory with a kubeconfig for the guest
//	Run       ─► one boot of test/vm/run.sh: the share read-write at /share,
//	             the binaries read-only at /e2e/bin, Kubernetes' binaries
//	             (kube-proxy for the adoption scenario) at /e2e/k8s, and the
//	             API server forwarded to 198.19.255.100:6443
//	control   ─► while a VM runs, carries out the guest's requests to stop,
//	             start, restart or kill the API server (test/e2e/guest
//	             AskHost), which a guest cannot do itself
//
// The suite (test/e2e, `make e2e`) and the demo (`make demo`) both drive it.
package host
