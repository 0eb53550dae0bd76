// Package e2e is the project's end-to-end suite (issue 6): every behaviour
// ipvs-proxy claims, shown with real packets through a real kernel's IPVS,
// driven by a real kube-apiserver.
//
//	host (this package, build tag e2e)             guest (test/vm, qemu TCG)
//	  build daemon + scenarios.test (static)
//	  kube-apiserver + etcd on 127.0.0.1  ◄─guestfwd── 198.19.255.100:6443
//	  per scenario: test/vm/run.sh ──────────────────► scenarios.test -test.run TestNN
//	  control dir (restart the API server) ◄──9p────── guest.AskHost
//	  ◄─ output, exit status, daemon logs ─────────── namespaces, servers, clients,
//	                                                  ipvs-proxy as a child process
//
// TestE2E lists the scenarios in test/e2e/scenarios and runs each in its own
// VM boot, as a subtest, so pass and fail are reported per scenario on the
// host. Run it with `make e2e`, or:
//
//	go test -tags e2e -v -timeout 60m ./test/e2e -run 'E2E/^04'  # one scenario
//	E2E_REPEAT=10 go test -tags e2e -v -timeout 180m ./test/e2e   # each 10 times
//
// Environment: E2E_REPEAT (runs per scenario), E2E_VM_TIMEOUT (seconds per
// boot, default 300), E2E_SMP (guest CPUs, default 1),
// E2E_KEEP=1 (keep the share directory with the daemons'
// logs), and test/vm's and test/apiserver's own variables. Without the
// Kubernetes binaries (make k8s-bins) the suite is skipped, or fails when
// CI=true.
package e2e
