package netfilter

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// The service-ports elements Translate writes decode back to the keys they
// came from, in both families.
func TestParsePortKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"198.18.0.10", "fd00::a"} {
		a := netip.MustParseAddr(s)
		k := model.VSKey{Addr: a, Port: 30443, Proto: model.SCTP}
		addrLen := 4
		if a.Is6() {
			addrLen = 16
		}
		got, ok := parsePortKey(portKey(k), addrLen)
		if !ok || got != k {
			t.Errorf("parsePortKey(portKey(%v)) = %v, %v", k, got, ok)
		}
	}
	if _, ok := parsePortKey([]byte{1, 2, 3}, 4); ok {
		t.Error("a short element decoded")
	}
}

// The Fake records the non-node-port ports of the applied intent, host
// ports included, and its node ports, as the kernel's sets do.
func TestFakeRecord(t *testing.T) {
	f := NewFake()
	if got, err := readRecord(f); err != nil || len(got.Ports)+len(got.NodePorts) != 0 {
		t.Fatalf("no tables: %v, %v", got, err)
	}
	host := model.VSKey{Addr: netip.MustParseAddr("198.18.1.1"), Port: 80, Proto: model.TCP}
	cluster := model.VSKey{Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: model.TCP}
	n := &model.Netfilter{Ports: []model.ServicePort{
		{VSKey: cluster, Kind: model.KindClusterIP},
		{VSKey: host, Kind: model.KindExternalIP, Host: true},
		{VSKey: model.VSKey{Addr: host.Addr, Port: 30080, Proto: model.TCP}, Kind: model.KindNodePort},
	}, NodePorts: []model.NodePort{{Proto: model.TCP, Port: 30080, Local: true}, {Proto: model.UDP, Port: 30053}}}
	n.Sort()
	if err := f.Apply(n); err != nil {
		t.Fatal(err)
	}
	got, err := readRecord(f)
	if want := []model.VSKey{cluster, host}; err != nil || !slices.Equal(got.Ports, want) {
		t.Errorf("Record().Ports = %v, %v; want %v", got.Ports, err, want)
	}
	if want := []model.NodePort{{Proto: model.TCP, Port: 30080}, {Proto: model.UDP, Port: 30053}}; !slices.Equal(got.NodePorts, want) {
		t.Errorf("Record().NodePorts = %v; want %v", got.NodePorts, want)
	}
}

// The kernel's snapshot decodes, from the tables Apply writes, the record
// the Fake keeps of the same intent: host ports and node ports included.
func TestRecordOfTranslation(t *testing.T) {
	host := model.VSKey{Addr: netip.MustParseAddr("198.18.1.1"), Port: 80, Proto: model.TCP}
	n := &model.Netfilter{Ports: []model.ServicePort{
		{VSKey: model.VSKey{Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: model.TCP}, Kind: model.KindClusterIP},
		{VSKey: model.VSKey{Addr: netip.MustParseAddr("fd00::10"), Port: 53, Proto: model.UDP}, Kind: model.KindClusterIP},
		{VSKey: host, Kind: model.KindExternalIP, Host: true},
		{VSKey: model.VSKey{Addr: host.Addr, Port: 30080, Proto: model.TCP}, Kind: model.KindNodePort},
	}, NodePorts: []model.NodePort{{Proto: model.TCP, Port: 30080, Local: true}, {Proto: model.UDP, Port: 30053}}}
	n.Sort()
	s := &snapshot{have: Translate(n, DefaultTableName), tableName: DefaultTableName}
	got, want := s.Record(), servedPorts(n)
	if len(want.Ports) != 3 || !slices.Equal(got.Ports, want.Ports) || !slices.Equal(got.NodePorts, want.NodePorts) {
		t.Errorf("record of the tables = %+v\nwant %+v", got, want)
	}
	if err := s.Verify(n); err != nil {
		t.Errorf("Verify of the intent translated: %v", err)
	}
}

// Node-port elements decode to their protocol and port.
func TestParseNodePortKey(t *testing.T) {
	np := model.NodePort{Proto: model.SCTP, Port: 30443}
	if got, ok := parseNodePortKey(concat(protoBytes(np.Proto), portBytes(np.Port))); !ok || got != np {
		t.Errorf("parseNodePortKey = %v, %v; want %v", got, ok, np)
	}
	if _, ok := parseNodePortKey([]byte{6}); ok {
		t.Error("a short element decoded")
	}
}

// readRecord is the record of a fresh snapshot.
func readRecord(n interface {
	Snapshot() (model.NetfilterSnapshot, error)
}) (model.ServedPorts, error) {
	s, err := n.Snapshot()
	if err != nil {
		return model.ServedPorts{}, err
	}
	return s.Record(), nil
}
