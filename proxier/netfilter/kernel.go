package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Config configures Kernel.
type Config struct {
	// TableName names our ip and ip6 tables; DefaultTableName when empty.
	TableName string
	// NetNS is an open file descriptor of the network namespace to
	// program; 0 means the caller's.
	NetNS int
	// IPv6 makes Probe check the ip6 table too (dual-stack or IPv6 nodes).
	IPv6 bool
	// Logger receives a V(4) line per transaction; klog.Background() when
	// unset.
	Logger klog.Logger
}

// Kernel is the real Interface: it talks nf_tables netlink directly.
type Kernel struct {
	cfg Config
	// mu serialises transactions (Apply, Update, Cleanup, Probe); Verify
	// does not take it.
	mu sync.Mutex
}

// New returns a Kernel. It does not touch the kernel: call Probe.
func New(cfg Config) *Kernel {
	if cfg.TableName == "" {
		cfg.TableName = DefaultTableName
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	return &Kernel{cfg: cfg}
}

// Apply implements Interface.
func (k *Kernel) Apply(n *model.Netfilter) error {
	return k.ApplyProgram(Translate(sorted(n), k.cfg.TableName))
}

// ApplyProgram replaces our tables with an already translated program, in
// one transaction, as Apply does. Its tables must carry our table name.
func (k *Kernel) ApplyProgram(p *Program) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	start := time.Now()
	size, err := k.replace(p, k.cfg.TableName, false)
	if err != nil {
		return fmt.Errorf("applying netfilter tables %q: %w", k.cfg.TableName, err)
	}
	k.cfg.Logger.V(4).Info("Applied netfilter tables", "table", k.cfg.TableName, "tables", len(p.Tables),
		"rules", p.RuleCount(), "batchBytes", size, "elapsed", time.Since(start))
	return nil
}

// Cleanup implements Interface.
func (k *Kernel) Cleanup() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.replace(&Program{}, k.cfg.TableName, false); err != nil {
		return fmt.Errorf("deleting netfilter tables %q: %w", k.cfg.TableName, err)
	}
	return nil
}

// Probe implements Interface.
func (k *Kernel) Probe() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name := k.cfg.TableName + "-probe"
	for _, f := range families {
		if f.table == nftables.TableFamilyIPv6 && !k.cfg.IPv6 {
			continue
		}
		p := Translate(probeIntent(f), name)
		if _, err := k.replace(p, name, true); err != nil {
			return fmt.Errorf("%w: the kernel refused a sample %s table (needs nf_tables, nft_ct, nft_masq, nft_reject, nft_chain_nat, nf_nat, interval and concatenated sets): %w",
				ErrUnavailable, f.name, err)
		}
	}
	return nil
}

// replace sends one transaction that deletes our tables of every family
// (creating them first, so that a missing table is no error), adds the
// program and, for a probe, deletes it again. It returns the batch size.
func (k *Kernel) replace(p *Program, name string, probe bool) (int, error) {
	size := batchSize(p)
	return size, transaction(k.cfg.NetNS, size, func(c *nftables.Conn) error {
		for _, f := range families {
			t := &nftables.Table{Family: f.table, Name: name}
			c.AddTable(t)
			c.DelTable(t)
		}
		for _, t := range p.Tables {
			if err := addTable(c, t); err != nil {
				return err
			}
		}
		if probe {
			for _, t := range p.Tables {
				c.DelTable(&nftables.Table{Family: t.Family, Name: t.Name})
			}
		}
		return nil
	})
}

// conn opens a library connection into the namespace, for reading.
func (k *Kernel) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if k.cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(k.cfg.NetNS))
	}
	return nftables.New(opts...)
}

// sendBuffer raises the socket's send buffer to size bytes: the kernel
// refuses a netlink message larger than the socket's send buffer, and the
// default (net.core.wmem_default) is about 200 KiB. It needs
// CAP_NET_ADMIN past net.core.wmem_max (SO_SNDBUFFORCE), which programming
// nftables needs anyway; without it SO_SNDBUF does what it can.
func sendBuffer(size int) nftables.SockOption {
	return func(c *netlink.Conn) error {
		if size < 1<<20 {
			size = 1 << 20
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
			if errors.Is(serr, syscall.EPERM) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, size)
			}
		})
		return errors.Join(err, serr)
	}
}

// batchSize over-estimates the netlink bytes of a program.
func batchSize(p *Program) int {
	n := 64 << 10
	for _, t := range p.Tables {
		for _, s := range t.Sets {
			n += 256 + len(s.Elements)*elementBytes(&s)
		}
		n += 1024 * p.RuleCount()
	}
	return n
}

// elementBytes bounds the netlink size of one element: key and key end with
// their nested headers, and flags.
func elementBytes(s *Set) int { return 2*(s.keyLen()+12) + 16 }

// maxChunkBytes keeps each element message's nested element list below the
// 64 KiB a netlink attribute can hold.
const maxChunkBytes = 48 << 10

func addTable(c *nftables.Conn, t Table) error {
	tbl := c.AddTable(&nftables.Table{Family: t.Family, Name: t.Name})
	sets := map[string]*nftables.Set{}
	for _, s := range t.Sets {
		ns, err := addSet(c, tbl, s)
		if err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		sets[s.Name] = ns
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range t.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: tbl}
		if ch.Hook != nil {
			hook, prio, policy := ch.Hook.Hook, nftables.ChainPriority(ch.Hook.Priority), ch.Hook.Policy
			nc.Type, nc.Hooknum, nc.Priority, nc.Policy = ch.Hook.Type, &hook, &prio, &policy
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			nr := &nftables.Rule{Table: tbl, Chain: chains[ch.Name], Exprs: bindSets(r.Exprs, sets)}
			if r.Comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
			}
			c.AddRule(nr)
		}
	}
	return nil
}

// addSet creates the set with its elements, in messages small enough for
// netlink's 64 KiB attributes.
func addSet(c *nftables.Conn, tbl *nftables.Table, s Set) (*nftables.Set, error) {
	ns := &nftables.Set{
		Table: tbl, Name: s.Name, KeyType: keyType(s.Fields),
		Interval: s.Interval, Concatenation: len(s.Fields) > 1,
	}
	elems := kernelElements(&s)
	chunk := max(1, maxChunkBytes/elementBytes(&s))
	first := elems[:min(chunk, len(elems))]
	if err := c.AddSet(ns, first); err != nil {
		return nil, err
	}
	for rest := elems[len(first):]; len(rest) > 0; {
		n := min(chunk, len(rest))
		if err := c.SetAddElements(ns, rest[:n]); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return ns, nil
}

func keyType(fields []Field) nftables.SetDatatype {
	types := make([]nftables.SetDatatype, len(fields))
	for i, f := range fields {
		types[i] = f.datatype()
	}
	if len(types) == 1 {
		return types[0]
	}
	return nftables.MustConcatSetType(types...)
}

func (f Field) datatype() nftables.SetDatatype {
	switch f {
	case FieldIPv4:
		return nftables.TypeIPAddr
	case FieldIPv6:
		return nftables.TypeIP6Addr
	case FieldProto:
		return nftables.TypeInetProto
	case FieldPort:
		return nftables.TypeInetService
	}
	return nftables.TypeInvalid
}

// kernelElements encodes elements as the kernel's set backends want them:
// concatenated ranges (pipapo) take the inclusive end as KEY_END, a single
// field range (rbtree) is a start element and an "interval end" element one
// past the range, left out when the range reaches the top of the space.
func kernelElements(s *Set) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(s.Elements))
	for _, e := range s.Elements {
		switch {
		case !s.Interval:
			out = append(out, nftables.SetElement{Key: e.Key})
		case len(s.Fields) > 1:
			out = append(out, nftables.SetElement{Key: e.Key, KeyEnd: e.KeyEnd})
		default:
			out = append(out, nftables.SetElement{Key: e.Key})
			if next, ok := increment(e.KeyEnd); ok {
				out = append(out, nftables.SetElement{Key: next, IntervalEnd: true})
			}
		}
	}
	return out
}

// bindSets copies the expressions for the library: each lookup gets the
// batch-local ID of its set, which the kernel needs to find a set created
// in the same batch, and ct address keys get their generic stand-in (see
// transaction).
func bindSets(exprs []expr.Any, sets map[string]*nftables.Set) []expr.Any {
	out := make([]expr.Any, len(exprs))
	for i, e := range exprs {
		switch e := e.(type) {
		case *expr.Lookup:
			bound := *e
			if s := sets[e.SetName]; s != nil {
				bound.SetID = s.ID
			}
			out[i] = &bound
		case *expr.Ct:
			ct := *e
			ct.Key = marshalCtKey(e.Key)
			out[i] = &ct
		default:
			out[i] = e
		}
	}
	return out
}

// probeIntent is a small intent of one family that uses every set and rule.
func probeIntent(f family) *model.Netfilter {
	addr := func(v4, v6 string) netip.Addr {
		if f.table == nftables.TableFamilyIPv6 {
			return netip.MustParseAddr(v6)
		}
		return netip.MustParseAddr(v4)
	}
	prefix := func(v4, v6 string) netip.Prefix {
		if f.table == nftables.TableFamilyIPv6 {
			return netip.MustParsePrefix(v6)
		}
		return netip.MustParsePrefix(v4)
	}
	vip := addr("198.18.0.1", "fd00::1")
	n := &model.Netfilter{
		LocalCIDRs: []netip.Prefix{prefix("198.18.128.0/17", "fd00:1::/64")},
		Ports: []model.ServicePort{
			{VSKey: model.VSKey{Addr: vip, Port: 80, Proto: model.TCP}, Kind: model.KindClusterIP},
			{VSKey: model.VSKey{Addr: vip, Port: 443, Proto: model.TCP}, Kind: model.KindLoadBalancer,
				SourceRanges: []netip.Prefix{prefix("198.18.64.0/18", "fd00:2::/64")}},
		},
		NodePorts: []model.NodePort{{Proto: model.TCP, Port: 30080}},
		Hairpin:   []model.Endpoint{{Addr: addr("198.18.128.1", "fd00:1::1"), Port: 8080, Proto: model.TCP}},
	}
	n.Sort()
	return n
}
