package probe

import (
	"bytes"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
	"github.com/ipvs-proxy/ipvs-proxy/proxier/netfilter"
)

// TestServicePortByKey deletes, looks up and restores one service-ports
// element by key, in a network namespace of its own (root and nf_tables
// needed; the bench's drift phase relies on it).
func TestServicePortByKey(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies in its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		servicePortByKey(t)
	}()
	<-done
}

func servicePortByKey(t *testing.T) {
	c, err := nftables.New()
	if err != nil {
		t.Error(err)
		return
	}
	tbl := c.AddTable(&nftables.Table{Name: oursTable, Family: nftables.TableFamilyIPv4})
	keyType, err := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	if err != nil {
		t.Error(err)
		return
	}
	set := &nftables.Set{Table: tbl, Name: oursServicePorts, KeyType: keyType, Concatenation: true}
	vip, other := netip.MustParseAddrPort("198.18.0.1:80"), netip.MustParseAddrPort("198.18.0.1:81")
	if err := c.AddSet(set, []nftables.SetElement{{Key: servicePortKey(vip)}, {Key: servicePortKey(other)}}); err != nil {
		t.Error(err)
		return
	}
	if err := c.Flush(); err != nil {
		t.Errorf("creating the set: %v", err)
		return
	}
	op := &Operator{nft: c}
	present := func(want bool) {
		t.Helper()
		if got, err := op.ServicePortPresent(servicePortKey(vip)); err != nil || got != want {
			t.Errorf("ServicePortPresent(%v) = %v, %v; want %v", vip, got, err, want)
		}
	}
	present(true)
	key, err := op.DeleteServicePort(vip)
	if err != nil {
		t.Errorf("DeleteServicePort: %v", err)
		return
	}
	present(false)
	if got, err := op.ServicePortPresent(servicePortKey(other)); err != nil || !got {
		t.Errorf("the other port's element: present %v, %v; want it left in place", got, err)
	}
	if err := op.AddServicePort(key); err != nil {
		t.Errorf("AddServicePort: %v", err)
	}
	present(true)
}

// TestServicePortKeyIsTheDaemons: the key the probe deletes and looks up
// is the one ipvs-proxy writes for a TCP cluster IP port.
func TestServicePortKeyIsTheDaemons(t *testing.T) {
	vip := netip.MustParseAddrPort("198.18.0.1:8080")
	p := netfilter.Translate(&model.Netfilter{Ports: []model.ServicePort{{
		VSKey: model.VSKey{Addr: vip.Addr(), Port: vip.Port(), Proto: model.TCP}, Kind: model.KindClusterIP,
	}}}, oursTable)
	for _, tbl := range p.Tables {
		for _, s := range tbl.Sets {
			if tbl.Family == nftables.TableFamilyIPv4 && s.Name == oursServicePorts {
				if len(s.Elements) != 1 || !bytes.Equal(s.Elements[0].Key, servicePortKey(vip)) {
					t.Fatalf("daemon's elements %x, probe's key %x", s.Elements, servicePortKey(vip))
				}
				return
			}
		}
	}
	t.Fatalf("no ip %s %s set in %+v", oursTable, oursServicePorts, p)
}
