// Package addr manages the dummy interface that holds service addresses
// (kube-ipvs0 by default) and lists the node addresses NodePorts listen on
// and the host's addresses, which are never bound as service addresses.
//
// Why a dummy interface: IPVS intercepts packets in the LOCAL_IN hook, so a
// packet to a ClusterIP, external IP or load-balancer IP must first be routed
// as local. Binding the address to an interface makes the kernel add a route
// of type local for it in the local routing table ("local 10.96.0.10 dev
// kube-ipvs0 proto kernel scope host src 10.96.0.10"); that route is the
// whole point and is kept.
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
//   - The local route still makes the kernel answer ARP for a service address
//     on any interface while net.ipv4.conf.all.arp_ignore is 0, and lets it use
//     a service address as the source of ARP requests. Removing the local
//     route would stop IPVS from seeing the traffic; the cure is strict ARP
//     (arp_ignore=1, arp_announce=2), which package sysctl applies when
//     --ipvs-strict-arp is set (MetalLB L2 needs it). test/kernel/addr shows
//     both behaviours over a veth pair.
//   - The local route's preferred source is the service address itself, so a
//     host process connecting to a service uses it as source address.
//     kube-router rewrites the route's source to the node IP
//     (cloudnativelabs/kube-router#376); kube-proxy, and we, keep the kernel's
//     route and rely on masquerading traffic that does not come from the
//     cluster CIDR (the netfilter intent), so replies find their way back.
//   - Link-local addresses on the dummy (fe80::/64 if someone brings it up)
//     are never listed, so the engine never tries to unbind them
//     (kubernetes#70113).
//
// Data flow:
//
//	engine ─► EnsureInterface, Bind, Unbind ─► netlink (RTM_NEWLINK/NEWADDR/DELADDR) ─► kernel
//	engine ◄─ List ◄─ RTM_GETADDR dump of the dummy interface
//	engine ◄─ NodeAddresses(--nodeport-addresses) ◄─ SelectNodePortAddresses ◄─ RTM_GETADDR dump of all links but the dummy
//	engine ◄─ HostAddresses ◄─ the same dump, unfiltered
//	daemon ◄─ Watch ◄─ RTNLGRP_LINK/IPV4_IFADDR/IPV6_IFADDR notifications, parsed in place (Event)
//
// NodePortAddresses holds the pure parsing and filtering of
// --nodeport-addresses, testable without root.
package addr
