// Package proxier is the pure core of ipvs-proxy: it turns Kubernetes
// Services and EndpointSlices into the exact kernel state a node must have,
// and computes the operations that get the kernel there.
//
// Data flows one way:
//
//	informers ─► trackers ─► Build ─► Diff(desired, observed) ─► adapters ─► kernel
//	(client-go)   coalesce    pure     pure, printable plan       proxier/ipvs, addr,
//	                                                               netfilter, sysctl, conntrack
//
// Build (and BuildService for one service) is pure: no I/O, no clock, no
// logging. All Service semantics live here, one file per concern:
// service.go (which services, cluster IPs, load-balancer IPs), port.go (the
// virtual servers of one port: cluster, external, load-balancer, node port;
// hairpin), slice.go (Slice: the compact form of an EndpointSlice that
// the daemon caches and Build reads), endpoints.go (reading them),
// topology.go (KEP-1669
// terminating endpoints, traffic policies, topology hints and the weight
// policy), scheduler.go (schedulers, flags, session affinity, source ranges).
// The Assembler (assemble.go) merges per-service fragments and resolves
// conflicting virtual servers, one service at a time: Build runs it over all
// services, the reconcile engine keeps one and sets the services that
// changed, so both apply the same rules (one copy of them). Diff (diff.go)
// is pure too; its model.Plan prints as ipvsadm and ip(8) commands.
//
// The weight policy is the heart of the project: a ready endpoint is a real
// server at weight 1; a terminating one stays at weight 0, so the
// connections it has finish while new ones go elsewhere; when no endpoint is
// ready, serving-terminating ones get weight 1 (KEP-1669 fallback). An
// endpoint neither ready nor terminating is not a real server.
//
// Traffic policies (topology.go, selection.forPort): internalTrafficPolicy
// Local gives the cluster IP this node's endpoints only, none when it has
// none. externalTrafficPolicy Local gives the external IPs, load-balancer
// IPs and node ports this node's endpoints, and the cluster's when it has
// none, as kube-proxy's IPVS mode does, so that pods and the node reach the
// service through its external addresses; those ports are marked
// model.ServicePort.NoLocalEndpoints and the netfilter program drops new
// connections to them from outside the cluster.
//
// A node proxy is never the reason a node is unreachable (hostaddr.go).
// Service addresses that are nobody's (loopback, multicast, link-local,
// unspecified, 255.255.255.255) and endpoint addresses of those kinds are
// reported and skipped. A service address that belongs to the host
// (Node.HostIPs) is served on its service's ports, as kube-proxy's IPVS mode
// serves it without binding it (shouldBind), but it is never bound on the
// dummy interface, and its ports are marked model.ServicePort.Host so that
// the netfilter program neither rejects the host's other ports on it nor
// firewalls it; a problem says so.
package proxier
