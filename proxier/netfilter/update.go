package netfilter

import (
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Update implements Interface. It sends only the element diff of the two
// intents (Diff) in one transaction, every deletion before any addition;
// when their programs differ in more than elements it replaces the tables
// as Apply does. Equal programs send nothing.
func (k *Kernel) Update(old, new *model.Netfilter, changed *model.NetfilterGroups) error {
	d, ok := Diff(old, new, changed, k.cfg.TableName)
	if !ok {
		k.cfg.Logger.V(4).Info("Replacing netfilter tables: the change is more than set elements", "table", k.cfg.TableName)
		return k.Apply(new)
	}
	if d.Empty() {
		return nil
	}
	return k.ApplyElements(d)
}

// ApplyElements sends an element diff in one transaction: afterwards either
// all of it is in place or nothing changed. The kernel refuses the whole
// transaction when a deleted element is missing, or when an added element
// or range is there already or overlaps one (the additions are exclusive,
// NLM_F_EXCL): either means the tables were not what the diff was computed
// from. Without NLM_F_EXCL, Linux 6.1 accepts a range whose start an
// element already has and silently keeps the old range.
func (k *Kernel) ApplyElements(d *ElementDiff) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	start := time.Now()
	size := d.batchSize()
	batch, err := d.batch()
	if err == nil {
		err = send(k.cfg.NetNS, size, batch)
	}
	deleted, added := d.Len()
	if err != nil {
		return fmt.Errorf("updating netfilter set elements of %q (%d deleted, %d added): %w", k.cfg.TableName, deleted, added, err)
	}
	k.cfg.Logger.V(4).Info("Updated netfilter set elements", "table", k.cfg.TableName, "sets", len(d.Sets),
		"deleted", deleted, "added", added, "batchBytes", size, "elapsed", time.Since(start))
	return nil
}

// build adds the diff's messages to a batch: all deletions, then all
// additions, each set's elements in messages below netlink's 64 KiB
// attribute limit.
func (d *ElementDiff) build(c *nftables.Conn) error {
	for _, del := range []bool{true, false} {
		for i := range d.Sets {
			sd := &d.Sets[i]
			es := sd.Add
			if del {
				es = sd.Delete
			}
			if err := sendElements(c, sd, es, del); err != nil {
				return fmt.Errorf("set %s %s: %w", familyName(sd.Family), sd.Set.Name, err)
			}
		}
	}
	return nil
}

// batch marshals the diff's messages (build), with exclusive additions.
func (d *ElementDiff) batch() ([]netlink.Message, error) {
	batch, err := marshal(d.build)
	if err != nil {
		return nil, err
	}
	for i := range batch {
		if batch[i].Header.Type == newSetElemType {
			batch[i].Header.Flags |= netlink.Excl
		}
	}
	return batch, nil
}

var newSetElemType = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)

func sendElements(c *nftables.Conn, sd *SetDiff, es []Element, del bool) error {
	if len(es) == 0 {
		return nil
	}
	s := sd.Set
	s.Elements = es
	ns := &nftables.Set{
		Table: &nftables.Table{Family: sd.Family, Name: sd.Table}, Name: s.Name,
		KeyType: keyType(s.Fields), Interval: s.Interval, Concatenation: len(s.Fields) > 1,
	}
	op := c.SetAddElements
	if del {
		op = c.SetDeleteElements
	}
	elems := kernelElements(&s)
	chunk := max(1, maxChunkBytes/elementBytes(&s))
	for len(elems) > 0 {
		n := min(chunk, len(elems))
		if err := op(ns, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// batchSize over-estimates the netlink bytes of the diff's batch.
func (d *ElementDiff) batchSize() int {
	n := 64 << 10
	for i := range d.Sets {
		s := &d.Sets[i].Set
		n += 2*256 + (len(d.Sets[i].Delete)+len(d.Sets[i].Add))*elementBytes(s)
	}
	return n
}
