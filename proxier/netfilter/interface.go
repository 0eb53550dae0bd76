package netfilter

import (
	"errors"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// Interface programs the netfilter intent into the kernel. Kernel is the
// real implementation, Fake the in-memory one.
type Interface interface {
	// Probe checks that nftables can hold our program: it submits a
	// complete sample program (every set type, expression and chain type
	// this package uses) in a transaction that ends by deleting it, so
	// nothing stays behind. It returns an error wrapping ErrUnavailable,
	// naming what failed, when the kernel refuses.
	Probe() error
	// Apply replaces the whole content of our tables with the intent's
	// program in one netlink transaction: afterwards either all of it is in
	// place or nothing changed. An empty intent removes our tables.
	Apply(n *model.Netfilter) error
	// Update changes our tables from intent old to intent new in one
	// netlink transaction, as atomic as Apply, writing only what differs:
	// when the two programs differ only in set elements it deletes and
	// adds those elements (O(changes) in the kernel), else it replaces the
	// tables as Apply(new) does; equal programs write nothing. old must be
	// what the tables hold (the last intent applied or verified): Update
	// does not read them back. With another old the kernel refuses the
	// transaction when it deletes a missing element or adds one already
	// there, leaving the tables as they were; else it accepts it and the
	// drift left (elements nobody asked to delete) is what Verify reports.
	// Either way Apply repairs it. changed, when not nil, promises that
	// old and new differ only in the groups it names; then only those are
	// compared and written, at a cost that does not grow with the intents'
	// size (a group left out of it that did change is left as it was, as
	// drift that Verify reports).
	Update(old, new *model.Netfilter, changed *model.NetfilterGroups) error
	// Snapshot reads our tables back: its Verify returns an error
	// wrapping ErrDrift, with a diff, when they differ from what Apply(n)
	// writes (missing tables are drift unless the intent is empty), and
	// its Record the ports and node ports they hold, a record of the
	// virtual servers we serve that outlives a restart (missing tables
	// give an empty one). It may run concurrently with Apply and Update
	// and does not wait for them (a read-back of a large program takes
	// seconds): a read that overlaps a transaction can see part of it, so
	// a caller that writes meanwhile discards the result.
	Snapshot() (model.NetfilterSnapshot, error)
	// Repair changes our tables from what the snapshot from read to what
	// Apply(n) writes, in one transaction: only the set elements that
	// differ when nothing else does, else (or when the kernel refuses
	// them: the tables changed since the read) as Apply. The drift repair
	// of one element no longer re-creates every table.
	Repair(from model.NetfilterSnapshot, n *model.Netfilter) error
	// Generation returns the nf_tables generation ID: every transaction
	// committed in the network namespace, by anyone, changes it. While it
	// stays the same nobody can have changed our tables, so a read-back can
	// be skipped.
	Generation() (uint32, error)
	// Cleanup deletes our tables; missing tables are not an error.
	Cleanup() error
}

var (
	// ErrUnavailable is wrapped by Probe when nftables cannot hold our
	// program (no nf_tables, missing expression modules, no permission).
	ErrUnavailable = errors.New("nftables unavailable")
	// ErrDrift is wrapped by a snapshot's Verify when the kernel's tables differ from
	// the intent.
	ErrDrift = errors.New("netfilter tables drifted from the intent")
)

var (
	_ Interface = (*Kernel)(nil)
	_ Interface = (*Fake)(nil)
)
