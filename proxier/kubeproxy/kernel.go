package kubeproxy

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config configures Kernel.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to clean;
	// 0 means the caller's.
	NetNS int
}

// Kernel is the real Interface: nf_tables netlink for iptables-nft,
// getsockopt for reading iptables-legacy, ipset netlink for the sets.
type Kernel struct {
	cfg Config
	mu  sync.Mutex
}

// New returns a Kernel. It does not touch the kernel.
func New(cfg Config) *Kernel {
	return &Kernel{cfg: cfg}
}

// CleanupLeftovers implements Interface.
func (k *Kernel) CleanupLeftovers() (Report, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := &kernelNode{netNS: k.cfg.NetNS}
	defer n.close()
	return cleanup(n, time.Sleep)
}

// kernelNode is the kernel seen by cleanup, for one call.
type kernelNode struct {
	netNS int
	// ipset is the netfilter netlink socket for ipset requests, opened
	// on first use; noIPSet records that the kernel has no ipset support.
	ipset   *netlink.Conn
	noIPSet bool
}

func (n *kernelNode) close() {
	if n.ipset != nil {
		n.ipset.Close()
	}
}

func (n *kernelNode) conn() (*nftables.Conn, error) {
	if n.netNS != 0 {
		return nftables.New(nftables.WithNetNSFd(n.netNS))
	}
	return nftables.New()
}

// listTables implements node: the nf_tables tables named nat and filter in
// the ip and ip6 families, then the legacy ones.
func (n *kernelNode) listTables() ([]table, error) {
	var out []table
	var errs []error
	for _, fam := range families {
		tabs, err := n.listNFT(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing iptables-nft %s tables: %w", fam, err))
		}
		out = append(out, tabs...)
	}
	for _, fam := range families {
		tabs, err := n.listLegacy(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing iptables-legacy %s tables: %w", fam, err))
		}
		out = append(out, tabs...)
	}
	return out, errors.Join(errs...)
}

// nftFamily maps a Family to nf_tables'.
func nftFamily(f Family) nftables.TableFamily {
	if f == IPv6 {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

// listNFT lists the family's nat and filter tables with their chains and
// jumps. A table without a chain of kube-proxy's is left out.
func (n *kernelNode) listNFT(fam Family) ([]table, error) {
	c, err := n.conn()
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChainsOfTableFamily(nftFamily(fam))
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) {
			return nil, nil // no nf_tables: nothing of iptables-nft either
		}
		return nil, err
	}
	var out []table
	for _, name := range tables {
		t := table{backend: NFT, family: fam, name: name}
		relevant := false
		for _, ch := range chains {
			if ch.Table.Name == name {
				t.chains = append(t.chains, chainInfo{name: ch.Name, base: ch.Hooknum != nil})
				relevant = relevant || isKubeChain(name, ch.Name)
			}
		}
		if !relevant {
			continue
		}
		if t.jumps, err = dumpJumps(n.netNS, nftFamily(fam), name); err != nil {
			return out, fmt.Errorf("listing the rules of %s %s: %w", fam, name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// apply implements node: one transaction deletes the jump rules, flushes
// kube-proxy's chains (which drops their jumps to each other and their set
// matches) and deletes them.
func (n *kernelNode) apply(t table, p tablePlan) error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	tbl := &nftables.Table{Name: t.name, Family: nftFamily(t.family)}
	for _, j := range p.rules {
		if err := c.DelRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: j.chain, Table: tbl}, Handle: j.handle}); err != nil {
			return err
		}
	}
	for _, name := range p.chains {
		c.FlushChain(&nftables.Chain{Name: name, Table: tbl})
	}
	for _, name := range p.chains {
		c.DelChain(&nftables.Chain{Name: name, Table: tbl})
	}
	return c.Flush()
}

// ipsetModule exists when the kernel has ipset (built in or loaded); it
// is checked first so that a cleanup does not load the module.
const ipsetModule = "/sys/module/ip_set"

// destroySet implements node with IPSET_CMD_DESTROY (ipset.go).
func (n *kernelNode) destroySet(name string) error {
	if n.ipset == nil && !n.noIPSet {
		if _, err := os.Stat(ipsetModule); err != nil {
			n.noIPSet = true
			return errSetMissing
		}
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: n.netNS})
		if err != nil {
			return err
		}
		n.ipset = c
	}
	if n.noIPSet {
		return errSetMissing
	}
	return ipsetDestroy(n.ipset, name)
}

// inNetNS runs fn on a thread in the network namespace netNS (0: the
// caller's).
func inNetNS(netNS int, fn func() error) error {
	if netNS == 0 {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(netns.NsHandle(netNS)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays in the other namespace: keep it locked so that
		// it ends with this goroutine.
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
