package kubeproxy

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// xtEntry describes one entry of a legacy table blob for buildBlob.
type xtEntry struct {
	hook    int    // 1 + the hook whose built-in chain starts here, else 0
	src     bool   // has a source address (-s)
	comment string // a comment match
	jump    string // jumps to this user chain
	verdict int32  // the standard verdict when jump is empty
	errName string // an ERROR entry: a chain head, or "ERROR" at the end
}

const (
	verdictDrop   = -1 // -NF_DROP - 1
	verdictAccept = -2 // -NF_ACCEPT - 1
	verdictReturn = -5 // XT_RETURN
)

// buildBlob lays out entries as the kernel returns them from
// IPT_SO_GET_ENTRIES, with the info IPT_SO_GET_INFO gives.
func buildBlob(l entryLayout, entries []xtEntry) (legacyInfo, []byte) {
	size := func(e xtEntry) (matches, target int) {
		if e.comment != "" {
			matches = targetHeader + 256
		}
		target = 40 // XT_ALIGN(sizeof(struct xt_standard_target))
		if e.errName != "" {
			target = 64 // XT_ALIGN(sizeof(struct xt_error_target))
		}
		return matches, target
	}
	offsets, starts := make([]int, len(entries)), map[string]int{}
	off := 0
	for i, e := range entries {
		m, tg := size(e)
		offsets[i] = off
		off += l.elems + m + tg
		if e.errName != "" {
			starts[e.errName] = off
		}
	}
	var in legacyInfo
	blob := make([]byte, off)
	for i, e := range entries {
		b := blob[offsets[i]:]
		m, tg := size(e)
		if e.hook > 0 {
			in.validHooks |= 1 << (e.hook - 1)
			in.hookEntry[e.hook-1] = uint32(offsets[i])
		}
		if e.src {
			b[0] = 198 // src 198.18.0.1 (or the first byte of an IPv6 one)
		}
		binary.NativeEndian.PutUint16(b[l.targetOffset:], uint16(l.elems+m))
		binary.NativeEndian.PutUint16(b[l.targetOffset+2:], uint16(l.elems+m+tg))
		if e.comment != "" {
			mb := b[l.elems:]
			binary.NativeEndian.PutUint16(mb, uint16(m))
			copy(mb[2:], "comment")
			copy(mb[targetHeader:], e.comment)
		}
		t := b[l.elems+m:]
		binary.NativeEndian.PutUint16(t, uint16(tg))
		switch {
		case e.errName != "":
			copy(t[2:], "ERROR")
			copy(t[targetHeader:], e.errName)
		case e.jump != "":
			binary.NativeEndian.PutUint32(t[targetHeader:], uint32(starts[e.jump]))
		default:
			binary.NativeEndian.PutUint32(t[targetHeader:], uint32(e.verdict))
		}
	}
	in.size = uint32(len(blob))
	return in, blob
}

// filterBlob is a legacy filter table with kube-proxy's and kubelet's
// chains: INPUT, FORWARD, OUTPUT are hooks 1, 2, 3.
var filterBlob = []xtEntry{
	{hook: 2, comment: "kubernetes ipvs access filter", jump: "KUBE-IPVS-FILTER"},
	{src: true, jump: "KUBE-PROXY-FIREWALL"},
	{jump: "KUBE-FIREWALL"},
	{verdict: verdictAccept},
	{hook: 3, verdict: verdictAccept},
	{hook: 4, comment: "kubernetes ipvs access filter", jump: "KUBE-IPVS-OUT-FILTER"},
	{verdict: verdictAccept},
	{errName: "KUBE-FIREWALL"},
	{verdict: verdictDrop},
	{verdict: verdictReturn},
	{errName: "KUBE-IPVS-FILTER"},
	{verdict: verdictReturn},
	{errName: "KUBE-IPVS-OUT-FILTER"},
	{verdict: verdictReturn},
	{errName: "KUBE-PROXY-FIREWALL"},
	{jump: "KUBE-IPVS-OUT-FILTER"},
	{verdict: verdictReturn},
	{errName: "ERROR"},
}

func TestParseLegacy(t *testing.T) {
	for _, fam := range families {
		t.Run(string(fam), func(t *testing.T) {
			in, blob := buildBlob(layouts[fam], filterBlob)
			got, err := parseLegacy(fam, "filter", in, blob)
			if err != nil {
				t.Fatal(err)
			}
			want := table{backend: Legacy, family: fam, name: "filter",
				chains: []chainInfo{
					{"INPUT", true}, {"FORWARD", true}, {"OUTPUT", true},
					{name: "KUBE-FIREWALL"}, {name: "KUBE-IPVS-FILTER"}, {name: "KUBE-IPVS-OUT-FILTER"}, {name: "KUBE-PROXY-FIREWALL"},
				},
				jumps: []jump{
					{chain: "INPUT", target: "KUBE-IPVS-FILTER", pos: 1, spec: `-m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`},
					{chain: "INPUT", target: "KUBE-PROXY-FIREWALL", pos: 2},
					{chain: "INPUT", target: "KUBE-FIREWALL", pos: 3, spec: "-j KUBE-FIREWALL"},
					{chain: "OUTPUT", target: "KUBE-IPVS-OUT-FILTER", pos: 1, spec: `-m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`},
					{chain: "KUBE-PROXY-FIREWALL", target: "KUBE-IPVS-OUT-FILTER", pos: 1, spec: "-j KUBE-IPVS-OUT-FILTER"},
				},
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(table{}, chainInfo{}, jump{})); diff != "" {
				t.Errorf("table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLegacyRejectsBadOffsets(t *testing.T) {
	l := layouts[IPv4]
	in, blob := buildBlob(l, filterBlob)
	binary.NativeEndian.PutUint16(blob[l.targetOffset+2:], 0) // next_offset 0 would loop forever
	if _, err := parseLegacy(IPv4, "filter", in, blob); err == nil {
		t.Error("a zero next_offset decoded")
	}
	if _, err := parseLegacy(IPv4, "filter", in, blob[:50]); err == nil {
		t.Error("a truncated blob decoded")
	}
}

func TestMatchSpecQuoting(t *testing.T) {
	l := layouts[IPv4]
	_, blob := buildBlob(l, []xtEntry{{comment: `it's "$(reboot)"`, jump: "KUBE-X"}, {errName: "KUBE-X"}, {errName: "ERROR"}})
	e, err := parseEntry(l, blob)
	if err != nil {
		t.Fatal(err)
	}
	if e.exact {
		t.Errorf("a comment with shell syntax is printed: %q", e.spec)
	}
}
