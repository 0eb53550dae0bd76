package netfilter

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var delSetElem = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELSETELEM)

// TestUpdateBatch checks the element batch without a kernel: only element
// messages, every deletion before any addition, exclusive additions, each
// message small enough for a netlink attribute, and a size estimate that
// holds.
func TestUpdateBatch(t *testing.T) {
	old := Translate(manyServices(5000), DefaultTableName)
	new := Translate(manyServices(10000), DefaultTableName)
	// Drop the first 100 services' hairpin endpoints: deletions too.
	for i := range new.Tables[0].Sets {
		s := &new.Tables[0].Sets[i]
		if s.Name == setHairpin {
			s.Elements = s.Elements[100:]
		}
	}
	d, ok := DiffElements(old, new)
	if !ok {
		t.Fatal("DiffElements refused")
	}
	deleted, added := d.Len()
	if deleted != 100 || added != 5000*14 {
		t.Fatalf("diff deletes %d and adds %d, want 100 and %d", deleted, added, 5000*14)
	}
	batch, err := d.batch()
	if err != nil {
		t.Fatal(err)
	}
	seenAdd := false
	counts := map[netlink.HeaderType]int{}
	for _, m := range batch[1 : len(batch)-1] { // batch begin and end
		counts[m.Header.Type]++
		switch m.Header.Type {
		case newSetElemType:
			seenAdd = true
			if m.Header.Flags&netlink.Excl == 0 {
				t.Fatal("an addition without NLM_F_EXCL")
			}
		case delSetElem:
			if seenAdd {
				t.Fatal("a deletion follows an addition")
			}
		default:
			t.Fatalf("message type %#x in an element batch", m.Header.Type)
		}
		if len(m.Data) > 64<<10 {
			t.Errorf("an element message has %d bytes, more than a netlink attribute holds", len(m.Data))
		}
	}
	if counts[delSetElem] != 1 || counts[newSetElemType] < 10 {
		t.Errorf("%d deletion and %d addition messages, want 1 and chunked additions", counts[delSetElem], counts[newSetElemType])
	}
	if size := d.batchSize(); size < totalBytes(batch) {
		t.Errorf("batchSize estimates %d bytes, the batch has %d", size, totalBytes(batch))
	}
}

// TestUpdateBatchEmpty checks that an empty diff marshals no message (send
// skips a batch of only begin and end).
func TestUpdateBatchEmpty(t *testing.T) {
	p := Translate(flowIntent(), DefaultTableName)
	d, ok := DiffElements(p, p)
	if !ok || !d.Empty() {
		t.Fatalf("DiffElements(p, p) = %v, %v; want an empty diff", d, ok)
	}
	batch, err := d.batch()
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) > 2 {
		t.Errorf("an empty diff marshals %d messages, want batch begin and end at most", len(batch))
	}
}

// BenchmarkDiff measures what Update computes before it writes, at 10,000
// services plus one: Diff, and the diff of the two whole translations it
// avoids.
func BenchmarkDiff(b *testing.B) {
	old, new := manyServices(10000), manyServices(10001)
	b.Run("intents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, ok := Diff(old, new, nil, DefaultTableName); !ok || d.Empty() {
				b.Fatal("no diff")
			}
		}
	})
	b.Run("programs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, ok := DiffElements(Translate(old, DefaultTableName), Translate(new, DefaultTableName))
			if !ok || d.Empty() {
				b.Fatal("no diff")
			}
		}
	})
}

// BenchmarkTranslate measures the translation of 10,000 services.
func BenchmarkTranslate(b *testing.B) {
	n := manyServices(10000)
	b.ReportAllocs()
	for b.Loop() {
		Translate(n, DefaultTableName)
	}
}
