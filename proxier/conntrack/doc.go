// Package conntrack deletes stale UDP connection-tracking entries over
// netlink (ctnetlink), without the conntrack command.
//
// Why: UDP has no connection close. When a UDP service loses an endpoint,
// or when packets reached a service IP:port before it had any endpoint, the
// kernel keeps a conntrack entry that keeps steering (or blackholing) the
// client's flow for as long as the client keeps sending. kube-proxy deletes
// those entries (pkg/proxy/conntrack, CleanStaleEntries); so does the
// reconcile engine, through this package.
//
// Data flow:
//
//	engine ─► []Filter (which entries are stale) ─► Interface.Clear ─► ctnetlink dump + delete
//	engine ◄─ []Entry ◄─ Interface.List (full reconcile) ─► StaleFilters(entries, serving) ─► []Filter
//
// An Entry is the kernel's view of one flow: the original tuple (client to
// service address, as the client sent it) and the reply tuple (from the real
// server that answers, after IPVS or DNAT). A Filter selects entries by
// protocol, original destination and reply source; Clear deletes every
// entry that matches any filter, dumping each address family at most once.
//
// The same rules as kube-proxy, expressed as filters:
//   - a UDP endpoint removed from a service: {UDP, service addr:port, reply
//     from the endpoint};
//   - a UDP service address:port removed or changed: {UDP, service addr:port};
//   - a full reconcile: StaleFilters deletes every UDP entry to a service
//     address:port (ClusterIP, external, load-balancer or NodePort on a node
//     address) whose reply does not come from a serving endpoint.
package conntrack
