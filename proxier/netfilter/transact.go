package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The ct keys that load one address family's address. nft writes and reads
// `ct original ip daddr` as these; a rule using the generic NFT_CT_SRC/DST
// keys instead makes `nft list ruleset` (nftables 1.0.6) abort with an
// assertion in netlink_parse_concat_expr, which must never happen on a node.
const (
	ctKeySrcIP  = expr.CtKey(unix.NFT_CT_SRC_IP)
	ctKeyDstIP  = expr.CtKey(unix.NFT_CT_DST_IP)
	ctKeySrcIP6 = expr.CtKey(unix.NFT_CT_SRC_IP6)
	ctKeyDstIP6 = expr.CtKey(unix.NFT_CT_DST_IP6)
)

// replyTimeout bounds the wait for the kernel's answer to a batch: a
// safety net only, nfnetlink answers as soon as it has processed the batch
// (about 2.5 s for half a million set elements on a 2-core machine).
const replyTimeout = 5 * time.Minute

// errCaptured ends the capture connection's Flush once it has the batch.
var errCaptured = errors.New("batch captured")

// transaction builds a batch with the google/nftables API and sends it as
// one nf_tables transaction.
//
// google/nftables v0.3.0 sends NFTA_CT_DIRECTION only for the generic
// NFT_CT_SRC/DST keys, and the kernel requires it for NFT_CT_SRC_IP & co.
// So the library marshals the batch into a capture connection, with the
// address keys swapped for the generic ones (which do get a direction), the
// keys are swapped back in the marshalled messages, and the batch goes to
// the kernel on a socket of our own, whose send buffer fits it.
func transaction(netNS, size int, build func(c *nftables.Conn) error) error {
	batch, err := marshal(build)
	if err != nil {
		return err
	}
	return send(netNS, size, batch)
}

// marshal returns the batch the build function makes, with the ct address
// keys restored, ready to send.
func marshal(build func(c *nftables.Conn) error) ([]netlink.Message, error) {
	var batch []netlink.Message
	capture, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		batch = append(batch, req...)
		return nil, errCaptured
	}))
	if err != nil {
		return nil, err
	}
	if err := build(capture); err != nil {
		return nil, err
	}
	if err := capture.Flush(); err != nil && !errors.Is(err, errCaptured) {
		return nil, fmt.Errorf("marshalling the batch: %w", err)
	}
	for i := range batch {
		if err := restoreCtKeys(&batch[i]); err != nil {
			return nil, err
		}
	}
	return batch, nil
}

// send writes the batch in one sendmsg and waits for the kernel's answer.
// Only the last message asks for an acknowledgement: one per message
// overflows the socket's receive buffer on large batches (ENOBUFS), and the
// kernel reports failed messages whether asked or not. nfnetlink processes
// a batch inside sendmsg, so replies are queued in order: an error for a
// failed message comes before the final acknowledgement. The first error
// is returned; the kernel has then aborted the transaction as a whole.
func send(netNS, size int, batch []netlink.Message) error {
	if len(batch) < 3 {
		return nil // batch begin and end only
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netNS})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := sendBuffer(size)(c); err != nil {
		return fmt.Errorf("raising the socket's send buffer to %d bytes: %w", size, err)
	}
	// The kernel's explanation of an error (and the offset of the refused
	// attribute), when it gives one; best effort.
	_ = c.SetOption(netlink.ExtendedAcknowledge, true)
	for i := range batch {
		// Let the real socket number the messages.
		batch[i].Header.Length, batch[i].Header.PID = 0, 0
		batch[i].Header.Flags &^= netlink.Acknowledge
	}
	last := len(batch) - 2 // the message before batch end
	batch[last].Header.Flags |= netlink.Acknowledge
	if err := c.SetReadDeadline(time.Now().Add(replyTimeout)); err != nil {
		return err
	}
	sent, err := c.SendMessages(batch)
	if err != nil {
		return err
	}
	for {
		replies, err := c.Receive()
		if err != nil {
			return err
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error && r.Header.Sequence == sent[last].Header.Sequence {
				return nil
			}
		}
	}
}

// marshalCtKey is the generic key the library is given for an address key,
// so that it sends a direction.
func marshalCtKey(k expr.CtKey) expr.CtKey {
	switch k {
	case ctKeySrcIP, ctKeySrcIP6:
		return expr.CtKeySRC
	case ctKeyDstIP, ctKeyDstIP6:
		return expr.CtKeyDST
	}
	return k
}

// restoreCtKeys turns the generic ct address keys of a NEWRULE message back
// into the family's address keys, in place.
func restoreCtKeys(m *netlink.Message) error {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE) || len(m.Data) < 4 {
		return nil
	}
	src, dst := uint32(ctKeySrcIP), uint32(ctKeyDstIP)
	if m.Data[0] == unix.NFPROTO_IPV6 {
		src, dst = uint32(ctKeySrcIP6), uint32(ctKeyDstIP6)
	}
	for _, exprs := range attrs(m.Data[4:], unix.NFTA_RULE_EXPRESSIONS) {
		for _, elem := range attrs(exprs, unix.NFTA_LIST_ELEM) {
			if name := attrs(elem, unix.NFTA_EXPR_NAME); len(name) != 1 || string(name[0]) != "ct\x00" {
				continue
			}
			for _, data := range attrs(elem, unix.NFTA_EXPR_DATA) {
				for _, key := range attrs(data, unix.NFTA_CT_KEY) {
					if len(key) != 4 {
						return fmt.Errorf("malformed ct key in a rule")
					}
					switch binary.BigEndian.Uint32(key) {
					case uint32(expr.CtKeySRC):
						binary.BigEndian.PutUint32(key, src)
					case uint32(expr.CtKeyDST):
						binary.BigEndian.PutUint32(key, dst)
					}
				}
			}
		}
	}
	return nil
}

// attrs returns the payloads of the attributes of type typ in b, as
// sub-slices of b (so writes change b). Nested and byte-order flags are
// ignored.
func attrs(b []byte, typ uint16) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		t := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			return out
		}
		if t == typ {
			out = append(out, b[4:l])
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return out
}
