// Package reconcile is the engine that keeps the kernel equal to the desired
// state, cheaply and without dropping traffic.
//
//	tracker (changed services) ─► Engine.Sync ─► BuildService per changed service
//	                                   │            └► desiredIndex (claims, refcounts)
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
// nothing when the kernel already matches. PollDrains ends drains.
//
// The periodic repair (repair.go) does Full's work in steps so that no sync
// holds the single sync goroutine for long at 10,000+ services: an object
// step (addresses, virtual servers without their real servers), a
// netfilter step, then one step per chunk of 500 virtual servers whose real
// servers are dumped and repaired. The runner spreads the steps over
// --ipvs-sync-period and every step applies pending changes first, so an
// endpoint change waits for at most one small step. With 500 virtual
// servers or fewer, a repair is one Full.
//
// The drain policy (drain.go) tells a pod that is shutting down from a
// backend that is dead: terminating endpoints stay at weight 0 while they
// are in their slice (their own grace period bounds them) and are deleted
// the moment they leave it; endpoints that vanish or turn not-ready without
// terminating drain at weight 0 until their connections reach zero or
// --drain-timeout passes; UDP real servers are deleted at once and their
// conntrack entries flushed. Every drain ends.
//
// One failed kernel call never aborts a sync: it is counted, logged once,
// and its virtual server, address or netfilter program is retried with
// exponential backoff (retry.go). Healthy is false while anything waits.
package reconcile
