// Package bench is the side-by-side benchmark of issue 8: ipvs-proxy,
// kube-proxy v1.37.2 in IPVS mode and kube-proxy in nftables mode, each
// alone on a fresh boot of the test VM (test/vm: Debian's 6.1 kernel under
// qemu TCG), over the same objects in the same real kube-apiserver.
//
//	host (TestSideBySide, build tag bench)          guest (guestbench)
//	  test/e2e/host: build, kube-apiserver,
//	  Populate: N services × 10 endpoints ───────► (already there when the
//	  per size and daemon: one VM boot               daemon starts)
//	    test/vm/run.sh guestbench -daemon D ─────► start D, time its cold sync
//	                                                 (probe: IPVS over netlink,
//	                                                 kube-proxy's nft table),
//	                                                 (ipvs-proxy) delete its
//	                                                 objects by hand, time the
//	                                                 repairs; write changes
//	                                                 through the API forward
//	                                                 and poll the kernel for
//	                                                 each, restart
//	  results/STAMP.{json,txt} ◄──── result.json ─── (ipvs-proxy only)
//
// The objects (objects.go) never carry traffic: cluster IPs 198.18.1.0 + i,
// endpoints in 198.19.0.0/16, which the guest blackholes. Every time is
// taken on the guest's clock, so host/guest clock offsets do not matter:
// the guest writes each change itself and polls the kernel for it.
//
// Run it with `make bench-vm`, or:
//
//	go test -tags bench -v -timeout 6h ./test/bench -run SideBySide
//
// Environment: BENCH_SIZES (default 1000,10000), BENCH_DAEMONS (ipvs-proxy,
// kube-proxy-nftables, kube-proxy-ipvs), BENCH_IPVS_MAX (largest size for
// kube-proxy's IPVS mode, default 1000), BENCH_CHANGES (default 200),
// BENCH_COLD_CAP (default 12m), BENCH_MEM (VM MiB, default 3072),
// BENCH_IDLE (how long idle CPU is measured, default 4m: two of the Go
// runtime's two-minute forced collections, which a one-minute window
// catches or misses by chance), BENCH_OURS_ARGS
// (extra ipvs-proxy flags, space-separated; ipvs-proxy otherwise runs with
// --ipvs-sync-period unset, as kubeadm leaves it), BENCH_DRIFT_CAP (how
// long ipvs-proxy's drift phase waits for each repair, default 3m; 0 skips
// it), BENCH_BURST (0 skips the burst phase: changes timed while 1,000 new
// services are programmed),
// BENCH_REPEAT, BENCH_RESULTS (default results/), BENCH_KEEP=1 (keep the
// daemons' logs), BENCH_ETCD_CACHE (where the API server's etcd data is
// kept after populating each size, default ~/.cache/ipvs-proxy/bench/etcd;
// "none" skips it; see etcdcache_test.go), BENCH_DAEMONS=none (populate
// only). The method and the latest figures are in
// docs/performance.md.
package bench
