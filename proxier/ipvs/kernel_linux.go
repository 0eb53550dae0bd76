package ipvs

import (
	"fmt"
	"path/filepath"
	"sync"

	mobyipvs "github.com/moby/ipvs"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

var _ Interface = (*Kernel)(nil)

// Kernel is Interface on the running kernel's IPVS, in the network namespace
// of the thread that called New (its sockets stay there). It is safe
// for concurrent use: calls are serialised, because each socket reads its
// replies in turn.
type Kernel struct {
	mu     sync.Mutex
	handle *mobyipvs.Handle
	// procPath is the file whose presence shows IPVS in this namespace.
	procPath string
	// modules are where Schedulers looks for scheduler modules.
	modules ModuleSources
	// sock is the raw socket of ApplyBatch and the dumps.
	sock *genlSocket
	// mobyOK is set once a request through moby/ipvs got an answer.
	mobyOK bool
	// reals and stats are dumpDests's scratch space, reused from one
	// dump to the next (a repair cycle at 10,000 services dumps 10,000
	// times).
	reals []model.RealServer
	stats []model.RealServerStats
}

// New opens two generic netlink sockets, moby/ipvs's and the raw one of
// dumps and batches. It succeeds even when the kernel has no IPVS (moby/ipvs
// does not check): call Probe before use. moby/ipvs's New also runs `modprobe -va ip_vs` once per
// process, which loads IPVS where that is permitted; nothing else in this
// package runs a program.
func New() (*Kernel, error) {
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink socket: %w", err)
	}
	s, err := openGenlSocket()
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Kernel{handle: h, sock: s, procPath: "/proc/net/ip_vs", modules: runningModules()}, nil
}

// runningModules are the module files of the running kernel. Without its
// release (uname fails) only the loaded modules can be read.
func runningModules() ModuleSources {
	src := ModuleSources{ProcModules: "/proc/modules"}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		src.ModulesDir = filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	}
	return src
}

// Schedulers implements Interface by reading the module files of the
// running kernel (DiscoverSchedulers).
func (k *Kernel) Schedulers() Schedulers { return DiscoverSchedulers(k.modules) }

// Close releases the netlink sockets. The Kernel is unusable afterwards.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.handle.Close()
	k.sock.close()
	return nil
}

// AddVirtualServer implements Interface.
func (k *Kernel) AddVirtualServer(vs model.VirtualServer) error {
	return k.write(validateVirtualServer(vs), func() error {
		return vsError(CallAddVirtualServer, vs, k.handle.NewService(toService(vs)))
	})
}

// UpdateVirtualServer implements Interface.
func (k *Kernel) UpdateVirtualServer(vs model.VirtualServer) error {
	return k.write(validateVirtualServer(vs), func() error {
		return vsError(CallUpdateVirtualServer, vs, k.handle.UpdateService(toService(vs)))
	})
}

// DeleteVirtualServer implements Interface.
func (k *Kernel) DeleteVirtualServer(key model.VSKey) error {
	return k.write(validateKey(key), func() error {
		return vsError(CallDeleteVirtualServer, model.VirtualServer{VSKey: key}, k.handle.DelService(keyService(key)))
	})
}

// AddRealServer implements Interface.
func (k *Kernel) AddRealServer(vs model.VSKey, rs model.RealServer) error {
	return k.write(validateWeight(vs, rs), func() error {
		return rsError(CallAddRealServer, vs, rs.RSKey, k.handle.NewDestination(keyService(vs), toDestination(rs)))
	})
}

// UpdateRealServer implements Interface.
func (k *Kernel) UpdateRealServer(vs model.VSKey, rs model.RealServer) error {
	return k.write(validateWeight(vs, rs), func() error {
		return rsError(CallUpdateRealServer, vs, rs.RSKey, k.handle.UpdateDestination(keyService(vs), toDestination(rs)))
	})
}

// DeleteRealServer implements Interface.
func (k *Kernel) DeleteRealServer(vs model.VSKey, rs model.RSKey) error {
	return k.write(validateRealServer(vs, rs), func() error {
		return rsError(CallDeleteRealServer, vs, rs, k.handle.DelDestination(keyService(vs), keyDestination(rs)))
	})
}

// Timeouts implements Interface.
func (k *Kernel) Timeouts() (Timeouts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.getConfig()
	if err != nil {
		return Timeouts{}, err
	}
	return Timeouts{TCP: c.TimeoutTCP, TCPFin: c.TimeoutTCPFin, UDP: c.TimeoutUDP}, nil
}

// SetTimeouts implements Interface.
func (k *Kernel) SetTimeouts(t Timeouts) error {
	if err := validateTimeouts(t); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.mobyReady(); err != nil {
		return err
	}
	err := k.handle.SetConfig(&mobyipvs.Config{TimeoutTCP: t.TCP, TimeoutTCPFin: t.TCPFin, TimeoutUDP: t.UDP})
	if err != nil {
		return fmt.Errorf("setting IPVS timeouts: %w", err)
	}
	return nil
}

// mobyReady checks, once, that moby/ipvs talks to the IPVS family. Without
// it, a handle made before IPVS was loaded sends writes to family 0, which
// the kernel acknowledges as successes without doing anything. The caller
// holds k.mu.
func (k *Kernel) mobyReady() error {
	if k.mobyOK {
		return nil
	}
	_, err := k.getConfig()
	return err
}

// getConfig reads the timeouts. moby/ipvs indexes the first reply without
// checking there is one; when it resolved no IPVS family (IPVS was loaded
// after the process started), the kernel acknowledges the request with no
// reply and moby/ipvs panics. That panic is turned into ErrUnavailable.
func (k *Kernel) getConfig() (c *mobyipvs.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = unavailable(fmt.Errorf("reading IPVS timeouts: no reply (moby/ipvs resolved no IPVS netlink family at start: %v)", r))
		}
	}()
	c, err = k.handle.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("reading IPVS timeouts: %w", err)
	}
	k.mobyOK = true
	return c, nil
}

// write runs one moby/ipvs write: after validation, under the lock, and
// only once moby's handle has proved that IPVS answers (a handle opened
// without IPVS reports writes as successes).
func (k *Kernel) write(invalid error, fn func() error) error {
	if invalid != nil {
		return invalid
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.mobyReady(); err != nil {
		return err
	}
	return fn()
}
