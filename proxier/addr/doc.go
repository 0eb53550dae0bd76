// Package addr manages the dummy interface that holds service addresses
// (kube-ipvs0 by default) and lists the node addresses NodePorts listen on
// and the host's addresses, which are never bound as service addresses.
//
// Why a dummy interface: IPVS intercepts packets in the LOCAL_IN hook, so a
// packet to a ClusterIP, external IP or load-balancer IP must first be routed
// as local. What makes it local is a route of type local in the local routing
// table; "binding" an address here means giving it that route, in one of two
// forms:
//   - IPv4: the route itself, "local 10.96.0.10 dev lo table local proto
//     107 scope host src 10.96.0.10" (RouteProtocol): the route the kernel
//     adds for an address bound to an interface, without the address.
//     kube-proxy binds the address instead, and the kernel inserts each
//     address into the device's address list after walking all of it (and
//     walks it again on delete): quadratic, 100,000 addresses took over 30
//     minutes in the test VM, while 100,000 routes take under a minute,
//     linearly (docs/performance.md). The route goes through the loopback
//     device, not the dummy: when the last IPv4 address leaves a device the
//     kernel deletes every IPv4 route through it, without a notification
//     for each, so with kube-proxy's adopted addresses on the dummy,
//     unbinding the last of them would silently unbind every route-bound
//     service address; lo always keeps 127.0.0.1. Without the address, `ip
//     addr show kube-ipvs0` lists nothing (`ip route show table local proto
//     107` does), and the kernel never picks a service address as the
//     source of traffic to elsewhere; everything that asks whether an
//     address is local (bind(2), ARP, the netfilter "fib daddr type local"
//     and "addrtype" matches) asks the routing table and answers as before.
//   - IPv6: an address on the dummy (/128), as kube-proxy does. Adding
//     IPv6 addresses is quadratic too (docs/performance.md); an IPv6 local
//     route through lo would not be, but is not done yet (the kernel
//     refuses one through the down dummy: ENETDOWN).
//
// Addresses already on the dummy (kube-proxy's, or an older version's) are
// adopted as they are: List reports both forms, Unbind removes either, and
// binding an IPv4 address the kernel already routes as local through an
// address there is "already bound" (the exclusive route add answers EEXIST).
// Deleting the dummy deletes the addresses; our cleanup also deletes our
// routes (kube-proxy's --cleanup knows nothing of them).
//
// What is done so that bound addresses break nothing, the same way as
// kube-proxy's IPVS mode, whose state this package adopts unchanged:
//   - The interface is a dummy created down and with NOARP (the dummy
//     driver's default) and is never brought up: with the link down the
//     kernel adds no prefix, broadcast or multicast routes for it, only the
//     local routes, and nothing is ever sent from it. An existing interface's
//     admin state is not changed, because bringing a link down flushes its
//     IPv6 addresses.
//   - Addresses are host addresses, /32 for IPv4 and /128 for IPv6, so there
//     is no subnet route either.
//   - IPv6 addresses are added with IFA_F_NODAD: duplicate address detection
//     would keep an address "tentative" (unusable) for a second or more, and
//     every node binds the same service addresses, so DAD could never succeed
//     on a shared segment anyway. (NOARP already skips DAD; the flag keeps it
//     that way if someone clears NOARP.) IFA_F_NOPREFIXROUTE is set too, so no
//     /128 route through the dummy appears in the main table.
//   - The local route makes the kernel answer ARP for a service address
//     on any interface while net.ipv4.conf.all.arp_ignore is 0, and lets it use
//     a service address as the source of ARP requests. Removing the local
//     route would stop IPVS from seeing the traffic; the cure is strict ARP
//     (arp_ignore=1, arp_announce=2), which package sysctl applies when
//     --ipvs-strict-arp is set (MetalLB L2 needs it). test/kernel/addr shows
//     both behaviours over a veth pair.
//   - The local route's preferred source is the service address itself, so a
//     host process connecting to a service uses it as source address.
//     kube-router rewrites the route's source to the node IP
//     (cloudnativelabs/kube-router#376); kube-proxy keeps the kernel's route,
//     ours has the same source, and both rely on masquerading traffic that does not come from the
//     cluster CIDR (the netfilter intent), so replies find their way back.
//   - Link-local addresses on the dummy (fe80::/64 if someone brings it up)
//     are never listed, so the engine never tries to unbind them
//     (kubernetes#70113).
//
// Data flow:
//
//	engine ─► EnsureInterface, BindAll, Unbind ─► netlink (RTM_NEWLINK, RTM_NEWROUTE/DELROUTE for IPv4, RTM_NEWADDR/DELADDR for IPv6) ─► kernel
//	engine ◄─ List ◄─ RTM_GETADDR dump of the dummy interface + RTM_GETROUTE dump of our IPv4 local routes
//	engine ◄─ NodeAddresses(--nodeport-addresses) ◄─ SelectNodePortAddresses ◄─ RTM_GETADDR dump of all links but the dummy
//	engine ◄─ HostAddresses ◄─ the same dump, unfiltered
//	daemon ◄─ Watch ◄─ RTNLGRP_LINK/IPV4_IFADDR/IPV6_IFADDR/IPV4_ROUTE notifications, parsed in place (Event)
//
// NodePortAddresses holds the pure parsing and filtering of
// --nodeport-addresses, testable without root.
package addr
