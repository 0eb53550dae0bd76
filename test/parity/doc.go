// Package parity is the differential suite of issue 11: for one seed, a
// random cluster covering the Service feature space is programmed by the
// real kube-proxy v1.37.2 (IPVS mode) and then by ipvs-proxy, with the same
// flags, on the same kernel, and the two IPVS tables and sets of addresses
// bound on kube-ipvs0 (as addresses or local routes) are compared.
//
//	Generate(seed) ─► Cluster: Node, flags, Services, EndpointSlices, extra host addresses
//	  ─► kube-apiserver (test/apiserver via test/e2e/host), one namespace per seed
//	  ─► one VM boot (test/vm): guestrun
//	        kube-proxy  ─► wait for its sync, settle ─► Snapshot ─► stop
//	        ipvs-proxy --cleanup-kube-proxy, IPVS flushed, kube-ipvs0 deleted
//	        ipvs-proxy  ─► wait for its sync, settle ─► Snapshot ─► stop
//	  ─► Compare(kube-proxy, ipvs-proxy) ─► Differences
//	  ─► Explain: each difference against the Intended table (intended.go),
//	     the one list of differences that are on purpose, each with its reason
//	     and a rule over the objects (never over printed text)
//	  ─► whatever no rule explains fails the test, printed per service with
//	     both daemons' virtual servers and the service's endpoints
//
// A Snapshot holds the virtual servers (address, port, protocol, scheduler,
// flags without the kernel's own "hashed" bit, persistence timeout and
// netmask), their real servers (address, port, weight, forwarding method,
// thresholds), the addresses bound on kube-ipvs0 and, for the rules, the
// host's other addresses.
//
// The generator, the comparison and the rules are pure and unit tested
// (go test ./test/parity). The run itself needs the Kubernetes binaries
// (make k8s-bins) and the VM (test/vm), behind the build tag parity:
//
//	make parity SEEDS=1,2,3            # one VM boot per seed
//	PARITY_SEEDS=7 go test -tags parity -count=1 -v ./test/parity
//
// PARITY_KEEP=1 keeps the share directory (snapshots, daemon logs) and says
// where it is.
package parity
