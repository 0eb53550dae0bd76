// Package ipvs is the kernel adapter for IPVS: the only code in the project
// that talks to the kernel's IPVS tables, over the "IPVS" generic netlink
// family.
//
// Its boundary speaks the project's vocabulary, the plain values of
// proxier/model; moby/ipvs types and netlink bytes never leave the package:
//
//	reconcile engine ──► Interface ─┬─► Kernel ─┬─► moby/ipvs: single writes, timeouts
//	   (model.*)                    │           └─► raw genetlink socket: ApplyBatch
//	                                │               (256 requests per sendmsg), dumps
//	                                └─► Fake: in memory, canonical Dump, error
//	                                    injection, settable counters, call counts
//
// Data flows both ways: ListServices and RealServerStats read the kernel
// into model values (observed state, drain counters); the Add, Update and
// Delete methods write one object each and ApplyBatch writes a plan's
// operations in bulk. Single writes go through github.com/moby/ipvs.
// Dumps and batches use a socket of our own (genl.go encodes, genl_parse.go
// decodes, both pure and unit-tested): moby/ipvs cannot batch, and on the
// test VM's emulated kernel it managed about 2,000-7,000 writes/s where the
// bare socket did 8,000-44,000 one at a time and 16,000-190,000 batched; it
// also lists about half as fast (test/kernel/ipvs, TestMeasureOpsPerSecond
// and README.md there).
//
// Every method documents its error behaviour, which Kernel and Fake share so
// that the engine can be tested on the Fake alone:
//
//   - deleting a missing object returns nil;
//   - adding an existing object returns an error wrapping ErrExists;
//   - updating a missing object, or touching a real server of a missing
//     virtual server, returns an error wrapping ErrNotFound;
//   - a value the kernel would reject or misread (mixed address families,
//     unknown flag bits, negative weight) returns an error wrapping ErrInvalid
//     before anything is sent.
//
// At start the daemon calls Probe, because moby/ipvs's New succeeds even when
// the kernel has no IPVS: Probe checks /proc/net/ip_vs, resolves the IPVS
// generic netlink family and reads the timeouts, and on failure names the
// kernel modules to load (see Modules). It then asks Schedulers which
// schedulers the kernel offers (DiscoverSchedulers reads the module files;
// the Fake says what it is told) and proves the configured one with
// ProbeScheduler, which works on any Interface.
//
// Nothing here logs: errors are wrapped and returned, and the caller logs
// them once. (moby/ipvs itself logs through logrus when New cannot run
// `modprobe ip_vs` or resolve the family; that is its only output, and
// cmd/ipvs-proxy routes it to klog.)
package ipvs
