// Package nlmsg frames netlink messages: it cuts a receive buffer into
// messages and reads the errno of an acknowledgement. It is pure (bytes in,
// values out) and shared by the adapters that speak netlink without a
// library on their hot paths: ipvs (generic netlink dumps and batches),
// addr (rtnetlink address dumps and batched binds) and netfilter (set
// element dumps).
package nlmsg

import (
	"encoding/binary"
	"fmt"
)

// HdrLen is the length of struct nlmsghdr.
const HdrLen = 16

// Message is one netlink message of a receive buffer.
type Message struct {
	Type, Flags uint16
	Seq         uint32
	Payload     []byte // after the header; points into the buffer
}

// Align rounds n up to the 4-byte alignment of messages and attributes.
func Align(n int) int { return (n + 3) &^ 3 }

// Append appends the messages of a receive buffer to out. A message that
// does not fit the buffer is an error, returned with the messages before
// it.
func Append(out []Message, b []byte) ([]Message, error) {
	for len(b) >= HdrLen {
		l := int(binary.NativeEndian.Uint32(b))
		if l < HdrLen || l > len(b) {
			return out, fmt.Errorf("netlink message of length %d in %d bytes", l, len(b))
		}
		out = append(out, Message{
			Type:    binary.NativeEndian.Uint16(b[4:]),
			Flags:   binary.NativeEndian.Uint16(b[6:]),
			Seq:     binary.NativeEndian.Uint32(b[8:]),
			Payload: b[HdrLen:l],
		})
		b = b[min(Align(l), len(b)):]
	}
	return out, nil
}

// ErrorCode reads the errno of an NLMSG_ERROR or NLMSG_DONE payload, which
// starts with the negated errno (0, or none at all, means success).
func ErrorCode(m Message) int32 {
	if len(m.Payload) < 4 {
		return 0
	}
	return -int32(binary.NativeEndian.Uint32(m.Payload))
}
