// Package ipvs is the kernel adapter for IPVS: the only code in the project
// that talks to the kernel's IPVS tables (through github.com/moby/ipvs and,
// for batched writes, raw generic netlink).
//
// Its boundary speaks the project's vocabulary, the plain values of
// proxier/model; moby/ipvs types never leave the package:
//
//	reconcile engine ──► Interface ──► Kernel ──► moby/ipvs ──► genetlink "IPVS" ──► kernel
//	   (model.*)            │            │ (convert: model ⇄ moby)
//	                        └──► Fake    └──► batch writer (several requests per sendmsg)
//	                            (in memory, canonical Dump, error injection, call counts)
//
// Data flows in both directions: ListServices and RealServerStats read the
// kernel into model values (observed state, drain counters); the Add, Update
// and Delete methods write one object each. Every method documents its error
// behaviour, which Kernel and Fake share so that the engine can be tested on
// the Fake alone:
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
// kernel modules to load (see Modules).
//
// Nothing here logs: errors are wrapped and returned, and the caller logs
// them once.
package ipvs
