package sysctl

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Interface reads and writes kernel parameters by their dotted names
// ("net.ipv4.ip_forward").
type Interface interface {
	// Get returns the parameter's value with surrounding white space
	// removed. A parameter that does not exist (its module is not loaded,
	// or it is not namespaced) returns an error that satisfies
	// errors.Is(err, fs.ErrNotExist).
	Get(name string) (string, error)
	// Set writes the value. A parameter that does not exist returns an
	// error that satisfies errors.Is(err, fs.ErrNotExist); Set never
	// creates one.
	Set(name, value string) error
}

// DefaultRoot is where the kernel exposes its parameters.
const DefaultRoot = "/proc/sys"

// DefaultModuleRoot is where the kernel exposes the parameters of its
// modules.
const DefaultModuleRoot = "/sys/module"

// ModulePrefix starts the names of module parameters, which Proc reads and
// writes under ModuleRoot rather than Root.
const ModulePrefix = "module."

// Proc is the real Interface: files under a root directory, /proc/sys by
// default. /proc/sys/net is per network namespace; it shows the namespace of
// the process that opens it.
//
// The one exception is OSReleaseName: Proc answers it from uname(2), never
// from a file under Root, and Set refuses it. Its value is the same text
// (both come from the caller's UTS namespace), but Root may hold only the
// net.* parameters: in a container whose own /proc/sys is read-only, the
// daemon writes through a bind of the host's /proc/sys/net mounted elsewhere
// (--sysctl-root), and kernel.osrelease is not under it.
//
// Names starting with ModulePrefix are kernel module parameters, not
// sysctls: "module.nf_conntrack.parameters.hashsize" is the file
// nf_conntrack/parameters/hashsize under ModuleRoot (/sys/module), the only
// place the kernel exposes conntrack's hash table size.
type Proc struct {
	// Root is the directory holding the parameters; "" means DefaultRoot.
	// Tests point it at a temporary directory.
	Root string
	// ModuleRoot is the directory holding the module parameters; ""
	// means DefaultModuleRoot.
	ModuleRoot string
}

var _ Interface = (*Proc)(nil)

// New returns the real Interface on /proc/sys.
func New() *Proc { return &Proc{Root: DefaultRoot} }

// validName accepts dotted parameter names: path segments of letters,
// digits, '_' and '-' ("net.bridge.bridge-nf-call-iptables"). It rejects
// anything that could escape the root ("..", "/").
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Path returns the file that holds the parameter under root.
func Path(root, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("invalid sysctl name %q", name)
	}
	if root == "" {
		root = DefaultRoot
	}
	return filepath.Join(root, strings.ReplaceAll(name, ".", "/")), nil
}

// path returns the file holding the parameter: under ModuleRoot for a
// module parameter, under Root otherwise.
func (p *Proc) path(name string) (string, error) {
	if rest, ok := strings.CutPrefix(name, ModulePrefix); ok {
		root := p.ModuleRoot
		if root == "" {
			root = DefaultModuleRoot
		}
		return Path(root, rest)
	}
	return Path(p.Root, name)
}

// Get implements Interface.
func (p *Proc) Get(name string) (string, error) {
	if name == OSReleaseName {
		return unameRelease()
	}
	path, err := p.path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set implements Interface. The file is opened without O_CREATE, so a
// missing parameter is reported rather than created. OSReleaseName is
// read-only.
func (p *Proc) Set(name, value string) error {
	if name == OSReleaseName {
		return fmt.Errorf("writing sysctl %s: read-only", name)
	}
	path, err := p.path(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("writing sysctl %s: %w", name, err)
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("writing sysctl %s=%s: %w", name, value, werr)
	}
	if cerr != nil {
		return fmt.Errorf("writing sysctl %s=%s: %w", name, value, cerr)
	}
	return nil
}

// unameRelease returns the running kernel's release, as uname -r prints it.
func unameRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("reading sysctl %s: uname: %w", OSReleaseName, err)
	}
	return strings.TrimSpace(unix.ByteSliceToString(u.Release[:])), nil
}

// notExist returns the error Get and Set return for a missing parameter.
func notExist(op, name string) error {
	return fmt.Errorf("%s sysctl %s: %w", op, name, fs.ErrNotExist)
}
