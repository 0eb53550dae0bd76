// Package reconcile is the engine that keeps the kernel equal to the desired
// state, cheaply and without dropping traffic.
//
//	tracker (changed services) ─► Engine.Sync ─► BuildService per changed service
//	                                   │            └► proxier.Assembler.Set (claims, refcounts)
//	                                   ├► decideRemovals (drain policy)
//	                                   ├► proxier.DiffService against the applied state
//	                                   └► execute: IPVS, addresses, netfilter, conntrack
//
// Sync is incremental: only the virtual servers of the services that
// changed are rebuilt, diffed and written, so one endpoint change costs the
// same at 1,000 and at 50,000 services. Full lists the kernel once (one
// service dump with destinations, one address listing), diffs it against
// the whole desired state and repairs drift; its first call adopts what is
// there (kube-proxy's IPVS state included) without flushing, and writes
// nothing when the kernel already matches. PollDrains ends drains. Where a
// virtual server's applied state equals its desired state, the engine holds
// one copy of it, the desired one (shared.go).
//
// The periodic repair (repair.go) does Full's work in steps so that no sync
// holds the single sync goroutine for long at 10,000+ services: an address
// step, a virtual-server step (one dump without real servers, compared with
// the desired state 1,000 entries a step: compare.go), then one step per
// chunk of 500 virtual servers whose real servers are dumped and repaired.
// With an IPVSLister the dumps run off the sync goroutine (vslist.go).
// The runner spreads the steps over the repair period (30 minutes unless
// ipvs.syncPeriod is set) and every step applies pending changes
// first, so an endpoint change waits for at most one small step. With 500
// virtual servers or fewer, a repair is one Full.
//
// A restart above that size does not list everything before its first sync
// (adopt.go): what the netfilter program records of the previous run (read
// back once, for the record and the check) is assumed programmed, and the first repair cycle, run back to back, reads
// it all and repairs what differs. Virtual servers not yet read stay in
// Engine.assumed; one whose read raced with a write is read whole
// (ipvs GetService).
//
// Between repairs, cheap checks (called by the daemon every
// --ipvs-sync-period) cost a few system calls whatever the number of
// services: CheckNetfilter (the nf_tables generation; a read-back off the
// sync goroutine only after someone else's commit: carryVerified),
// CheckIPVS (one random virtual server's real servers against what was
// applied: a flushed table shows there) and RetryExhausted (objects whose
// retries ran out). Address drift is reported by the kernel
// (RepairAddressDrift).
//
// Addresses do not wait for the cycle (addrwatch.go): the kernel notifies
// every address change (rtnetlink, addr.Interface.Watch), and the daemon
// hands the dummy interface's changes to RepairAddressDrift at its next
// sync. Changes that agree with the applied state, the notifications of our
// own binds and unbinds, cost a map lookup each; one that disagrees (an
// address of ours removed, a foreign one added, notifications lost, the
// interface recreated) makes the engine list the addresses once and repair
// them as the cycle's address step does. In the test VM an address deleted
// by hand is bound again 0.1–0.3 s later whatever --ipvs-sync-period is;
// the cycle's address step stays as the backstop.
//
// The drain policy (drain.go) tells a pod that is shutting down from a
// backend that is dead: terminating endpoints stay at weight 0 while they
// are in their slice (their own grace period bounds them) and are deleted
// the moment they leave it; endpoints that vanish or turn not-ready without
// terminating drain at weight 0 until their connections reach zero or
// --drain-timeout passes; UDP real servers are deleted at once and their
// conntrack entries flushed. Every drain ends.
//
// # One contract for every kernel object
//
// Every subsystem is reconciled the same way: desired objects in (the
// assembler), the kernel read back on start and on repairs (observe:
// what is ours is adopted, never flushed), a plan of writes (Update and
// Delete, model.Op; Prune is the deletion of what is ours and no longer
// desired), and a status per object out (status.go): a virtual server, a
// real server, an address on the dummy interface, the netfilter program
// (one object, written in one transaction) and the kernel read. An object
// has a status only while it is not done:
//
//   - pending: a transient error (ENOMEM, ENOBUFS, EBUSY, EINTR, anything
//     not known to be permanent), retried with exponential backoff from
//     0.5 s to 30 s, and failed as "retries-exhausted" after 10 attempts,
//     which the periodic repair tries again once per cycle;
//   - failed with a reason (errors.go): the kernel refused the value
//     (EINVAL and kin), the scheduler's module is missing, or the virtual
//     server belongs to another program (Owner). It is not retried until
//     its operation changes.
//
// One failed kernel call never aborts a sync, and one failed object is
// that object's problem: it is reported once (Result.ObjectErrors, the
// object errors metric via FailedObjects), and Healthy stays true as long
// as the proxy keeps syncing (the kernel can be read, the netfilter
// program is in place), as kube-proxy means it. Because a virtual
// server's diff settles all of its entries, an object that is neither
// wanted nor applied has no status: a retry cannot outlive its object.
// Sysctls (checked on every full sync by the daemon) and conntrack
// flushes (best effort, as in kube-proxy) are not objects with a status.
package reconcile
