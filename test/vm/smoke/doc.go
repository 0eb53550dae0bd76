// Package smoke proves the real-kernel VM harness in test/vm: run inside the
// guest (build tag vmtest), its tests check that the kernel has IPVS, that
// virtual and real servers round-trip through moby/ipvs netlink, that
// nftables, dummy interfaces and named network namespaces work, and that
// packets really flow through an IPVS NAT service into a backend namespace.
//
// On the host the package has no tests; `make vm-smoke` (test/vm/smoke.sh)
// builds it with -tags vmtest and runs it in the VM through test/vm/run.sh.
package smoke
