//go:build vmtest

package netfilter_test

import (
	"strings"
	"testing"

	"github.com/google/nftables"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestRepairWritesOnlyTheDriftedElements: Repair writes the element diff
// of the snapshot that found the drift, not the whole tables: a stray
// element the snapshot saw is deleted, and one added after it is left for
// the next read-back to find (a whole Apply would have removed both). A
// snapshot that no longer matches the kernel (its stray was removed
// meanwhile, so the kernel refuses the delete) ends in a whole Apply.
// Either way the program ends as the intent's or as drift a read-back
// sees.
func TestRepairWritesOnlyTheDriftedElements(t *testing.T) {
	k, ns := newKernel(t)
	n := dualStack()
	if err := k.Apply(n); err != nil {
		t.Fatal(err)
	}
	addStray := func(key []byte) {
		c := conn(t, ns)
		set, err := c.GetSetByName(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: netfilter.DefaultTableName}, "service-ips")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAddElements(set, []nftables.SetElement{{Key: key}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	addStray([]byte{198, 19, 9, 9})
	snap, err := k.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Verify(n) == nil {
		t.Fatal("the snapshot saw no drift")
	}
	addStray([]byte{198, 19, 9, 10}) // after the snapshot
	if err := k.Repair(snap, n); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	err = k.Verify(n)
	if err == nil || strings.Contains(err.Error(), "198.19.9.9") || !strings.Contains(err.Error(), "198.19.9.10") {
		t.Fatalf("after Repair: %v; want only 198.19.9.10, added after the snapshot, left", err)
	}

	// The same snapshot again is stale: its delete of 198.19.9.9 is
	// refused, and Repair replaces the tables instead.
	if err := k.Repair(snap, n); err != nil {
		t.Fatalf("Repair from a stale snapshot: %v", err)
	}
	if err := k.Verify(n); err != nil {
		t.Errorf("after Repair from a stale snapshot: %v", err)
	}
}
