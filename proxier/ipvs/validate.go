package ipvs

import (
	"fmt"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// knownFlags are the service flag bits this package programs and reports.
// The kernel also reports internal bits (IP_VS_SVC_F_HASHED, 0x2) that are
// masked out when reading.
const knownFlags = model.FlagPersistent | model.SchedFlagMask

// validateKey rejects keys the kernel cannot hold or would misread: IPv4
// addresses written as IPv4-mapped IPv6 (they would not match what a dump
// returns), zoned addresses and protocols IPVS does not balance.
func validateKey(k model.VSKey) error {
	if !k.Addr.IsValid() || k.Addr.Is4In6() || k.Addr.Zone() != "" {
		return fmt.Errorf("virtual server address %q: %w", k.Addr, ErrInvalid)
	}
	switch k.Proto {
	case model.TCP, model.UDP, model.SCTP:
	default:
		return fmt.Errorf("virtual server protocol %s: %w", k.Proto, ErrInvalid)
	}
	return nil
}

// validateVirtualServer checks a virtual server before it is written.
func validateVirtualServer(vs model.VirtualServer) error {
	if err := validateKey(vs.VSKey); err != nil {
		return err
	}
	if vs.Scheduler == "" {
		return fmt.Errorf("virtual server %s: empty scheduler: %w", vs.VSKey, ErrInvalid)
	}
	if vs.Flags&^knownFlags != 0 {
		return fmt.Errorf("virtual server %s: unknown flags %#x: %w", vs.VSKey, uint32(vs.Flags&^knownFlags), ErrInvalid)
	}
	if vs.Persistent() != (vs.Timeout != 0) {
		return fmt.Errorf("virtual server %s: persistence timeout %d with flags %#x: %w",
			vs.VSKey, vs.Timeout, uint32(vs.Flags), ErrInvalid)
	}
	return nil
}

// validateRealServer checks a real server before it is written. Its address
// family must be the virtual server's: moby/ipvs sends no destination family,
// so the kernel would read an IPv4 address as the start of an IPv6 one.
func validateRealServer(vs model.VSKey, rs model.RSKey) error {
	if err := validateKey(vs); err != nil {
		return err
	}
	if !rs.Addr.IsValid() || rs.Addr.Is4In6() || rs.Addr.Zone() != "" {
		return fmt.Errorf("real server address %q: %w", rs.Addr, ErrInvalid)
	}
	if rs.Addr.Is4() != vs.Addr.Is4() {
		return fmt.Errorf("real server %s of %s: address family differs: %w", rs, vs, ErrInvalid)
	}
	return nil
}

// validateWeight rejects negative weights, which the kernel refuses (ERANGE).
func validateWeight(vs model.VSKey, rs model.RealServer) error {
	if err := validateRealServer(vs, rs.RSKey); err != nil {
		return err
	}
	if rs.Weight < 0 {
		return fmt.Errorf("real server %s of %s: weight %d: %w", rs.RSKey, vs, rs.Weight, ErrInvalid)
	}
	return nil
}

// validateTimeouts rejects timeouts that would not mean what they say: a
// negative value, or a positive one under a second, which the kernel would
// receive as 0, "keep the system value".
func validateTimeouts(t Timeouts) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"tcp", t.TCP}, {"tcpfin", t.TCPFin}, {"udp", t.UDP}} {
		if d.v < 0 || (d.v > 0 && d.v < time.Second) {
			return fmt.Errorf("%s timeout %s: %w", d.name, d.v, ErrInvalid)
		}
	}
	return nil
}
