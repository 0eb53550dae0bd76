package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/internal/nlmsg"
)

// dumpBuffer is the receive buffer of a set dump. The kernel sizes each
// dump message by the largest buffer the socket has read with, capped at
// 32 KiB (netlink_recvmsg), and walks a hash set from its first element
// again for every message, skipping those already sent (nft_rhash_walk).
// google/nftables reads through mdlayher/netlink, which reads with a page
// (4 KiB, about 100 elements), so a set of 700,000 elements cost 7,000
// walks: 8.3 s of kernel time on the host. At 32 KiB the walks are eight
// times fewer.
const dumpBuffer = 64 << 10

// dumpedElement is one element as the kernel lists it: rbtree interval
// sets list a range as a start element and an IntervalEnd one past it.
type dumpedElement struct {
	Key, KeyEnd []byte
	IntervalEnd bool
}

// dumpSetElements lists a set's elements. The keys are slices of one
// arena per dump message, not an allocation per element.
func dumpSetElements(netNS int, set *nftables.Set) ([]dumpedElement, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netNS})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(set.Table.Name + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set.Name + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	req, err := c.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append([]byte{byte(set.Table.Family), unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	d := setDump{seq: req.Header.Sequence, buf: make([]byte, dumpBuffer)}
	for !d.done {
		if err := d.receive(rc); err != nil {
			return nil, err
		}
	}
	return d.elems, nil
}

// setDump is one dump's reading state.
type setDump struct {
	seq   uint32
	buf   []byte
	msgs  []nlmsg.Message
	elems []dumpedElement
	done  bool
}

// receive reads one datagram of the dump and decodes its messages.
func (d *setDump) receive(rc syscall.RawConn) error {
	var n, flags int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, flags, _, rerr = unix.Recvmsg(int(fd), d.buf, nil, 0)
			if !errors.Is(rerr, unix.EINTR) {
				return !errors.Is(rerr, unix.EAGAIN)
			}
		}
	})
	switch {
	case err != nil:
		return err
	case rerr != nil:
		return fmt.Errorf("receiving the set dump: %w", rerr)
	case flags&unix.MSG_TRUNC != 0:
		return fmt.Errorf("set dump message larger than %d bytes", len(d.buf))
	}
	if d.msgs, err = nlmsg.Append(d.msgs[:0], d.buf[:n]); err != nil {
		return fmt.Errorf("parsing the set dump: %w", err)
	}
	// NLM_F_DUMP_INTR is not an error here: nf_tables sets it when anyone
	// commits in the namespace during the dump (a CNI plugin's tables
	// included), while only a write to our own tables can mix the read.
	// The engine discards a read that overlapped a write of ours, and a
	// foreign commit moves the generation, so the next check reads again.
	for _, m := range d.msgs {
		switch {
		case m.Seq != d.seq:
			continue
		case m.Type == unix.NLMSG_DONE || m.Type == unix.NLMSG_ERROR:
			d.done = true
			if errno := nlmsg.ErrorCode(m); errno != 0 {
				return fmt.Errorf("set dump: %w", unix.Errno(errno))
			}
			return nil
		}
		if err := d.decode(m.Payload); err != nil {
			return err
		}
	}
	return nil
}

// decode appends the elements of one NFT_MSG_NEWSETELEM message. Their
// keys are copied into one arena, since the read buffer is reused.
func (d *setDump) decode(data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("short set element message")
	}
	arena := make([]byte, 0, len(data))
	keep := func(b []byte) []byte {
		arena = append(arena, b...)
		return arena[len(arena)-len(b) : len(arena) : len(arena)]
	}
	return eachAttr(data[4:], func(typ uint16, list []byte) error {
		if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			return nil
		}
		return eachAttr(list, func(_ uint16, one []byte) error {
			var e dumpedElement
			err := eachAttr(one, func(typ uint16, b []byte) error {
				switch typ {
				case unix.NFTA_SET_ELEM_KEY:
					e.Key = keep(dataValue(b))
				case nftables.NFTA_SET_ELEM_KEY_END:
					e.KeyEnd = keep(dataValue(b))
				case unix.NFTA_SET_ELEM_FLAGS:
					if len(b) == 4 {
						e.IntervalEnd = binary.BigEndian.Uint32(b)&unix.NFT_SET_ELEM_INTERVAL_END != 0
					}
				}
				return nil
			})
			d.elems = append(d.elems, e)
			return err
		})
	})
}

// dataValue returns the NFTA_DATA_VALUE inside a nested key attribute.
func dataValue(nested []byte) []byte {
	var v []byte
	eachAttr(nested, func(typ uint16, b []byte) error {
		if typ == unix.NFTA_DATA_VALUE {
			v = b
		}
		return nil
	})
	return v
}

// eachAttr calls fn with the type (without the nested and byte-order
// flags) and payload of each netlink attribute in b, in place.
func eachAttr(b []byte, fn func(typ uint16, data []byte) error) error {
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			return fmt.Errorf("malformed netlink attribute (length %d of %d)", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if err := fn(typ, b[unix.SizeofNlAttr:l]); err != nil {
			return err
		}
		b = b[min(nlaAlign(l), len(b)):]
	}
	return nil
}

func nlaAlign(l int) int { return (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }
