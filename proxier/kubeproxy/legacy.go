package kubeproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iptables-legacy is read as iptables-legacy-save reads it: getsockopt
// IPT_SO_GET_INFO for the table's size and its built-in chains' offsets,
// then IPT_SO_GET_ENTRIES for the table blob (linux/netfilter_ipv4/
// ip_tables.h, netfilter_ipv6/ip6_tables.h). Entries are a fixed header,
// matches and a target; a user-defined chain starts with an ERROR target
// holding its name, and a jump is the standard target with a verdict that
// is the byte offset of the chain's first rule.

const (
	soGetInfo    = 64 // IPT_SO_GET_INFO, IP6T_SO_GET_INFO
	soGetEntries = 65 // IPT_SO_GET_ENTRIES, IP6T_SO_GET_ENTRIES
	// getInfoSize is sizeof(struct ipt_getinfo): name[32], valid_hooks,
	// hook_entry[5], underflow[5], num_entries, size.
	getInfoSize = 84
	// getEntriesSize is sizeof(struct ipt_get_entries) before the entries:
	// name[32], size, padding to the entries' 8-byte alignment.
	getEntriesSize = 40
	// targetHeader is sizeof(struct xt_entry_target) (and of
	// xt_entry_match): size u16, name[29], revision u8.
	targetHeader = 32
	numHooks     = 5
)

// entryLayout is where an ipt_entry's or ip6t_entry's fields are.
type entryLayout struct {
	ipSize       int // sizeof(struct ipt_ip) / ip6t_ip6
	targetOffset int // offset of target_offset; next_offset follows it
	elems        int // sizeof(struct ipt_entry): where matches start
}

var layouts = map[Family]entryLayout{
	IPv4: {ipSize: 84, targetOffset: 88, elems: 112},
	IPv6: {ipSize: 136, targetOffset: 140, elems: 168},
}

// legacyInfo is the part of struct ipt_getinfo the parser needs.
type legacyInfo struct {
	validHooks uint32
	hookEntry  [numHooks]uint32
	size       uint32
}

func parseGetInfo(b []byte) legacyInfo {
	var in legacyInfo
	in.validHooks = binary.NativeEndian.Uint32(b[32:])
	for h := range numHooks {
		in.hookEntry[h] = binary.NativeEndian.Uint32(b[36+4*h:])
	}
	in.size = binary.NativeEndian.Uint32(b[80:])
	return in
}

// legacyEntry is one decoded entry of a table blob.
type legacyEntry struct {
	next    int
	target  string // "" for the standard target
	verdict int32  // standard target
	errName string // ERROR target: a chain's name, or "ERROR" at the end
	// spec is the rule's matches as iptables options, when exact says
	// they can be printed exactly.
	spec  string
	exact bool
}

// parseLegacy decodes a table blob into a table.
func parseLegacy(fam Family, name string, in legacyInfo, blob []byte) (table, error) {
	t := table{backend: Legacy, family: fam, name: name}
	hookAt := map[int]string{}
	for h := range numHooks {
		if in.validHooks&(1<<h) != 0 {
			hookAt[int(in.hookEntry[h])] = builtinChains[h]
			t.chains = append(t.chains, chainInfo{name: builtinChains[h], base: true})
		}
	}
	var entries []legacyEntry
	var offsets []int
	starts := map[int]string{} // first rule offset -> user chain
	for off := 0; off < len(blob); {
		e, err := parseEntry(layouts[fam], blob[off:])
		if err != nil {
			return t, fmt.Errorf("entry at offset %d: %w", off, err)
		}
		if e.target == "ERROR" && e.errName != "ERROR" {
			starts[off+e.next] = e.errName
			t.chains = append(t.chains, chainInfo{name: e.errName})
		}
		entries, offsets = append(entries, e), append(offsets, off)
		off += e.next
	}
	chain, pos := "", 0
	for i, e := range entries {
		if c, ok := hookAt[offsets[i]]; ok {
			chain, pos = c, 0
		}
		if e.target == "ERROR" {
			chain, pos = e.errName, 0
			continue
		}
		pos++
		if to, ok := starts[int(e.verdict)]; ok && e.target == "" && e.verdict >= 0 && chain != "" {
			spec := ""
			if e.exact {
				spec = strings.TrimSpace(e.spec + " -j " + to)
			}
			t.jumps = append(t.jumps, jump{chain: chain, target: to, pos: pos, spec: spec})
		}
	}
	return t, nil
}

// commentRE is what a comment may hold to be printed in a shell command
// without quoting surprises.
var commentRE = regexp.MustCompile(`^[A-Za-z0-9 _.,:/+=@-]*$`)

// parseEntry decodes the entry at the start of b.
func parseEntry(l entryLayout, b []byte) (legacyEntry, error) {
	var e legacyEntry
	if len(b) < l.elems {
		return e, errors.New("truncated entry")
	}
	tOff := int(binary.NativeEndian.Uint16(b[l.targetOffset:]))
	e.next = int(binary.NativeEndian.Uint16(b[l.targetOffset+2:]))
	if e.next < l.elems || e.next > len(b) || tOff < l.elems || tOff+targetHeader > e.next {
		return e, fmt.Errorf("bad offsets (target %d, next %d)", tOff, e.next)
	}
	tgt := b[tOff:e.next]
	e.target = cString(tgt[2:31])
	data := tgt[targetHeader:]
	switch e.target {
	case "":
		if len(data) >= 4 {
			e.verdict = int32(binary.NativeEndian.Uint32(data))
		}
	case "ERROR":
		e.errName = cString(data)
	}
	e.spec, e.exact = matchSpec(l, b, tOff)
	return e, nil
}

// matchSpec returns an entry's matches as iptables options, and whether
// they are exactly that: no address, interface or protocol criteria, and
// only comment matches.
func matchSpec(l entryLayout, b []byte, tOff int) (string, bool) {
	if slices.ContainsFunc(b[:l.ipSize], func(c byte) bool { return c != 0 }) {
		return "", false // -s, -d, -i, -o, -p, -g or an inversion
	}
	var specs []string
	for off := l.elems; off < tOff; {
		size := int(binary.NativeEndian.Uint16(b[off:]))
		if size < targetHeader || off+size > tOff {
			return "", false
		}
		name, data := cString(b[off+2:off+31]), b[off+targetHeader:off+size]
		comment := cString(data)
		if name != "comment" || !commentRE.MatchString(comment) {
			return "", false
		}
		specs = append(specs, fmt.Sprintf("-m comment --comment %q", comment))
		off += size
	}
	return strings.Join(specs, " "), true
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// legacyTableNames returns the legacy tables of the family that exist in
// the calling thread's network namespace.
func legacyTableNames(fam Family) ([]string, error) {
	file := "/proc/thread-self/net/ip_tables_names"
	if fam == IPv6 {
		file = "/proc/thread-self/net/ip6_tables_names"
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no ip_tables module: no legacy tables
	}
	return strings.Fields(string(b)), err
}

// readLegacy reads a table's info and blob. The table must exist: asking
// for another would create it.
func readLegacy(fam Family, name string) (legacyInfo, []byte, error) {
	domain, level := unix.AF_INET, unix.SOL_IP
	if fam == IPv6 {
		domain, level = unix.AF_INET6, unix.SOL_IPV6
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return legacyInfo{}, nil, err
	}
	defer unix.Close(fd)
	for range 4 {
		buf := make([]byte, getInfoSize)
		copy(buf, name)
		if err := getsockopt(fd, level, soGetInfo, buf); err != nil {
			return legacyInfo{}, nil, fmt.Errorf("IPT_SO_GET_INFO %s: %w", name, err)
		}
		in := parseGetInfo(buf)
		entries := make([]byte, getEntriesSize+int(in.size))
		copy(entries, name)
		binary.NativeEndian.PutUint32(entries[32:], in.size)
		err := getsockopt(fd, level, soGetEntries, entries)
		if errors.Is(err, unix.EAGAIN) {
			continue // the table changed between the two calls
		}
		if err != nil {
			return legacyInfo{}, nil, fmt.Errorf("IPT_SO_GET_ENTRIES %s: %w", name, err)
		}
		return in, entries[getEntriesSize:], nil
	}
	return legacyInfo{}, nil, fmt.Errorf("table %s kept changing while read", name)
}

func getsockopt(fd, level, opt int, buf []byte) error {
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// listLegacy lists the family's legacy nat and filter tables that exist.
func (n *kernelNode) listLegacy(fam Family) ([]table, error) {
	var out []table
	err := inNetNS(n.netNS, func() error {
		names, err := legacyTableNames(fam)
		if err != nil {
			return err
		}
		for _, name := range tables {
			if !slices.Contains(names, name) {
				continue
			}
			in, blob, err := readLegacy(fam, name)
			if err != nil {
				return err
			}
			t, err := parseLegacy(fam, name, in, blob)
			if err != nil {
				return fmt.Errorf("decoding %s: %w", name, err)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}
