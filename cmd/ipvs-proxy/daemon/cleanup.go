package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/kubeproxy"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/reconcile"
)

// Cleanup removes everything this proxy owns: the virtual servers on
// addresses bound to the dummy interface and those on node addresses in the
// node-port range (never one inside the exclude CIDRs, never anyone else's),
// the dummy interface with its addresses, and our nftables tables. The dummy
// interface and its virtual servers are laid out as kube-proxy's IPVS mode
// lays them out, so this also removes kube-proxy's IPVS state. With
// cleanupKubeProxy it then removes kube-proxy's iptables chains and ipsets
// (a.KubeProxy), and logs what it had to leave: legacy iptables, with the
// commands that remove it.
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
	// Virtual servers only, and their deletes batched: at 100,000 services
	// listing every real server takes minutes in the test VM, and one
	// request per round trip ten times longer than the batch
	// (docs/performance.md).
	vss, err := a.IPVS.ListVirtualServers()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing IPVS virtual servers: %w", err))
	}
	boundSet := make(map[netip.Addr]struct{}, len(bound))
	for _, b := range bound {
		boundSet[b] = struct{}{}
	}
	var ops []model.Op
	for _, vs := range vss {
		if owner.Owns(vs.VSKey, boundSet, nodeIPs) {
			ops = append(ops, model.Op{Kind: model.OpDeleteVirtualServer, VS: vs})
		}
	}
	deleted := 0
	for i, err := range a.IPVS.ApplyBatch(ops) {
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting virtual server %v: %w", ops[i].VS.VSKey, err))
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
		errs = append(errs, cleanupKubeProxyLeftovers(logger, a.KubeProxy))
	}
	return errors.Join(errs...)
}

// CleanupKubeProxyOnly removes kube-proxy's iptables chains, the jumps to
// them and its ipsets, and logs what it had to leave (legacy iptables, with
// the commands that remove it). It touches nothing else: it is given no
// other adapter, so IPVS, the dummy interface and our nftables tables stay
// as they are. That makes it safe on a node in service once ipvs-proxy has
// taken over from kube-proxy: kube-proxy's nat rules masquerade the same
// connections our nftables table masquerades (established connections keep
// the NAT decided at their first packet, in conntrack), and its filter rules
// would otherwise keep rejecting ports that became Services after kube-proxy
// stopped. kp must not be nil.
func CleanupKubeProxyOnly(ctx context.Context, kp kubeproxy.Interface) error {
	if kp == nil {
		return errors.New("removing kube-proxy's iptables chains and ipsets: no adapter")
	}
	return cleanupKubeProxyLeftovers(klog.FromContext(ctx), kp)
}

// cleanupKubeProxyLeftovers removes kube-proxy's iptables chains and ipsets
// and logs what it removed and what it left.
func cleanupKubeProxyLeftovers(logger klog.Logger, kp kubeproxy.Interface) error {
	if kp == nil {
		logger.Info("Skipped kube-proxy's iptables chains and ipsets: no adapter")
		return nil
	}
	r, err := kp.CleanupLeftovers()
	logger.Info("Cleaned up kube-proxy's leftovers", "rules", r.Count(kubeproxy.KindRule),
		"chains", r.Count(kubeproxy.KindChain), "ipsets", r.Count(kubeproxy.KindSet), "left", len(r.Left))
	for _, l := range r.Left {
		logger.Info("Left a kube-proxy object", "object", l.Object.String(), "reason", l.Reason)
	}
	if len(r.Commands) > 0 {
		logger.Info("Listed the commands that remove what is left, to run after stopping kube-proxy", "commands", strings.Join(r.Commands, "\n"))
	}
	if err != nil {
		return fmt.Errorf("removing kube-proxy's iptables chains and ipsets: %w", err)
	}
	return nil
}
