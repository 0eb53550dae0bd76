package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// Cleanup removes everything this proxy owns: the virtual servers on
// addresses bound to the dummy interface and those on node addresses in the
// node-port range (never one inside the exclude CIDRs, never anyone else's),
// the dummy interface with its addresses, and our nftables tables. The dummy
// interface and its virtual servers are laid out as kube-proxy's IPVS mode
// lays them out, so this also removes kube-proxy's IPVS state; its iptables
// chains and ipsets are not ours to touch here and are reported.
func Cleanup(ctx context.Context, a Adapters, owner reconcile.Owner, cleanupKubeProxy bool) error {
	logger := klog.FromContext(ctx)
	var errs []error
	bound, err := a.Addresses.List()
	if err != nil {
		bound = nil // a missing interface leaves only node-port virtual servers to find
	}
	nodeIPs, err := a.Addresses.NodeAddresses(nil)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing node addresses: %w", err))
	}
	svcs, err := a.IPVS.ListServices()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing IPVS services: %w", err))
	}
	lo, hi := owner.NodePortMin, owner.NodePortMax
	if lo == 0 && hi == 0 {
		lo, hi = 30000, 32767
	}
	deleted := 0
	for _, s := range svcs {
		ours := slices.Contains(bound, s.Addr) || slices.Contains(nodeIPs, s.Addr) && s.Port >= lo && s.Port <= hi
		if !ours || excluded(owner.ExcludeCIDRs, s.Addr) {
			continue
		}
		if err := a.IPVS.DeleteVirtualServer(s.VSKey); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted++
	}
	if err := a.Addresses.DeleteInterface(); err != nil {
		errs = append(errs, fmt.Errorf("deleting the dummy interface: %w", err))
	}
	if err := a.Netfilter.Cleanup(); err != nil {
		errs = append(errs, fmt.Errorf("deleting our nftables tables: %w", err))
	}
	logger.Info("Cleaned up", "virtualServers", deleted, "addresses", len(bound))
	if cleanupKubeProxy {
		logger.Info("kube-proxy's IPVS virtual servers and kube-ipvs0 were removed with ours; its iptables chains (KUBE-*) and ipsets are left for `kube-proxy --cleanup`")
	}
	return errors.Join(errs...)
}

func excluded(cidrs []netip.Prefix, a netip.Addr) bool {
	for _, p := range cidrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
