package sysctl

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"k8s.io/utils/cpuset"
)

// The conntrack parameters kube-proxy sets at start, and so do we.
const (
	ConntrackMaxName = "net.netfilter.nf_conntrack_max"
	// ConntrackHashsizeName is nf_conntrack's module parameter hashsize,
	// /sys/module/nf_conntrack/parameters/hashsize (see ModulePrefix).
	ConntrackHashsizeName          = ModulePrefix + "nf_conntrack.parameters.hashsize"
	ConntrackTCPEstablishedName    = "net.netfilter.nf_conntrack_tcp_timeout_established"
	ConntrackTCPCloseWaitName      = "net.netfilter.nf_conntrack_tcp_timeout_close_wait"
	ConntrackTCPBeLiberalName      = "net.netfilter.nf_conntrack_tcp_be_liberal"
	ConntrackUDPTimeoutName        = "net.netfilter.nf_conntrack_udp_timeout"
	ConntrackUDPTimeoutStreamName  = "net.netfilter.nf_conntrack_udp_timeout_stream"
	conntrackMaxLimit              = 1 << 20
	conntrackHashsizePerMaxEntries = 4
)

// Conntrack is kube-proxy's conntrack configuration
// (KubeProxyConfiguration's conntrack section, the --conntrack-* flags)
// with its defaults applied. A zero field leaves its parameter alone.
type Conntrack struct {
	// MaxPerCore times the node's CPUs, at least Min, is the
	// nf_conntrack_max the node needs; 0 leaves nf_conntrack_max and the
	// hash size alone and ignores Min.
	MaxPerCore, Min int
	// TCPEstablishedTimeout and TCPCloseWaitTimeout are written, in whole
	// seconds, when greater than 0.
	TCPEstablishedTimeout, TCPCloseWaitTimeout time.Duration
	// TCPBeLiberal sets nf_conntrack_tcp_be_liberal=1; false leaves it.
	TCPBeLiberal bool
	// UDPTimeout and UDPStreamTimeout are written, in whole seconds, when
	// greater than 0.
	UDPTimeout, UDPStreamTimeout time.Duration
}

// ConntrackMax returns the nf_conntrack_max the configuration asks for on
// a node with cpus CPUs, 0 for none: MaxPerCore × cpus, at least Min; a
// product above 1,048,576 is capped there, Min notwithstanding (kube-proxy
// caps the product before it looks at Min). It follows kube-proxy v1.37's
// getConntrackMax (pkg/proxy/conntrack/sysctls.go).
func ConntrackMax(c Conntrack, cpus int) int {
	if c.MaxPerCore <= 0 {
		return 0
	}
	scaled := c.MaxPerCore * cpus
	switch {
	case scaled > conntrackMaxLimit:
		return conntrackMaxLimit
	case scaled > c.Min:
		return scaled
	default:
		return c.Min
	}
}

// ConntrackCurrent holds the values of nf_conntrack_max and the hash size
// read before deciding; a negative value means it could not be read.
type ConntrackCurrent struct {
	Max, Hashsize int
}

// ConntrackSettings returns the parameters to write, in kube-proxy's
// order, for configuration c on a node with cpus CPUs whose current
// values are cur. It is pure and follows kube-proxy v1.37's setSysctls
// (pkg/proxy/conntrack/sysctls.go):
//   - nf_conntrack_max is only ever raised, to ConntrackMax (also written
//     when the current value could not be read);
//   - the hash size is only ever raised, to a quarter of that target,
//     and only when the current size is known;
//   - each timeout greater than 0 is written as whole seconds, whether
//     that raises or lowers it;
//   - tcp_be_liberal is set to 1 when asked, never back to 0.
//
// Ensure then writes only those whose value differs.
func ConntrackSettings(c Conntrack, cpus int, cur ConntrackCurrent) []Setting {
	var out []Setting
	add := func(name, value, reason string) {
		out = append(out, Setting{Name: name, Value: value, Reason: reason})
	}
	if max := ConntrackMax(c, cpus); max > 0 {
		if cur.Max < 0 || cur.Max < max {
			add(ConntrackMaxName, strconv.Itoa(max), "room for a conntrack entry per proxied connection (conntrack.maxPerCore × CPUs, at least conntrack.min)")
		}
		if hash := max / conntrackHashsizePerMaxEntries; cur.Hashsize >= 0 && cur.Hashsize < hash {
			add(ConntrackHashsizeName, strconv.Itoa(hash), "a conntrack hash table sized for nf_conntrack_max")
		}
	}
	seconds := func(name string, d time.Duration, reason string) {
		if d > 0 {
			add(name, strconv.Itoa(int(d/time.Second)), reason)
		}
	}
	seconds(ConntrackTCPEstablishedName, c.TCPEstablishedTimeout, "conntrack.tcpEstablishedTimeout")
	seconds(ConntrackTCPCloseWaitName, c.TCPCloseWaitTimeout, "conntrack.tcpCloseWaitTimeout")
	if c.TCPBeLiberal {
		add(ConntrackTCPBeLiberalName, "1", "conntrack.tcpBeLiberal")
	}
	seconds(ConntrackUDPTimeoutName, c.UDPTimeout, "conntrack.udpTimeout")
	seconds(ConntrackUDPTimeoutStreamName, c.UDPStreamTimeout, "conntrack.udpStreamTimeout")
	return out
}

// ReadConntrack reads what ConntrackSettings needs to decide: the values
// of nf_conntrack_max and the hash size, -1 for one that cannot be read.
// kube-proxy treats an unreadable nf_conntrack_max as "write it" and an
// unreadable hash size as an error; so does the returned error, which
// names only the hash size.
func ReadConntrack(iface Interface) (ConntrackCurrent, error) {
	cur := ConntrackCurrent{Max: readInt(iface, ConntrackMaxName), Hashsize: -1}
	v, err := iface.Get(ConntrackHashsizeName)
	if err == nil {
		cur.Hashsize, err = strconv.Atoi(v)
	}
	if err != nil {
		return cur, fmt.Errorf("reading the conntrack hash size: %w", err)
	}
	return cur, nil
}

// readInt returns the parameter's integer value, or -1.
func readInt(iface Interface, name string) int {
	v, err := iface.Get(name)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// IsReadOnly reports whether err comes from a read-only file system, as
// when a container's /proc/sys or /sys is mounted read-only.
func IsReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }

// OnlineCPUs returns the node's online CPUs, the count kube-proxy sizes
// nf_conntrack_max by (its DetectNumCPU): the host's, from
// /sys/devices/system/cpu/online, not the process's CPU set, which a static
// CPU policy narrows. It falls back to runtime.NumCPU.
func OnlineCPUs() int {
	if n, err := cpuset.NumCPU(); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}
