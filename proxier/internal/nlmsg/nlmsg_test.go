package nlmsg

import (
	"encoding/binary"
	"slices"
	"testing"
)

func message(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, Align(HdrLen+len(payload)))
	binary.NativeEndian.PutUint32(b, uint32(HdrLen+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[HdrLen:], payload)
	return b
}

func TestAppendAndErrorCode(t *testing.T) {
	errno := make([]byte, 4)
	binary.NativeEndian.PutUint32(errno, uint32(0xffffffff-17+1)) // -EEXIST
	buf := slices.Concat(message(20, 2, 7, []byte{1, 2, 3}), message(2, 0, 8, errno), message(3, 0, 9, nil))
	msgs, err := Append(nil, buf)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Append = %d messages, %v", len(msgs), err)
	}
	if m := msgs[0]; m.Type != 20 || m.Flags != 2 || m.Seq != 7 || !slices.Equal(m.Payload, []byte{1, 2, 3}) {
		t.Errorf("first message %+v", m)
	}
	if got := ErrorCode(msgs[1]); got != 17 {
		t.Errorf("ErrorCode = %d, want 17", got)
	}
	if got := ErrorCode(msgs[2]); got != 0 {
		t.Errorf("ErrorCode of an empty DONE = %d, want 0", got)
	}
	if out, err := Append(nil, slices.Concat(buf[:20], buf[20:36][:HdrLen+2])); err == nil || len(out) != 1 {
		t.Errorf("truncated buffer: %d messages, %v", len(out), err)
	}
}
