package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Options configures a plane. The zero value is a single-stack plane with the
// default service range and binaries from BinDir.
type Options struct {
	// BinDir holds kube-apiserver and etcd; BinDir() when empty.
	BinDir string
	// ServiceCIDR is the IPv4 service range; DefaultServiceCIDR when empty.
	ServiceCIDR string
	// ServiceCIDRv6, when set, makes the cluster dual-stack (IPv4 primary),
	// e.g. DefaultServiceCIDRv6.
	ServiceCIDRv6 string
	// ExtraSANs are more IP addresses or DNS names for the serving certificate,
	// for clients that reach the API server through a forward (a VM guest).
	ExtraSANs []string
	// APIServerFlags are appended to the kube-apiserver flags (later flags win),
	// e.g. "--feature-gates=...".
	APIServerFlags []string
	// TempDir is where the plane directory is created; os.TempDir() when empty.
	TempDir string
	// KeepDir leaves the plane directory (certificates, logs, etcd data) in
	// place after Stop. IPVS_PROXY_KEEP_PLANE=1 does the same.
	KeepDir bool
	// StartTimeout bounds each wait for etcd and the API server to be ready;
	// 2 minutes when zero (a loaded 2-core machine is slow).
	StartTimeout time.Duration
	// EtcdFrom, when set, is an etcd data directory (one SaveEtcdOnStop
	// wrote) that etcd starts from, copied: the plane begins with the
	// objects a previous plane held, e.g. 100,000 benchmark services that
	// take the better part of an hour to create.
	EtcdFrom string
}

// Plane is a running etcd and kube-apiserver. Its methods are safe for
// concurrent use.
type Plane struct {
	opts    Options
	dir     string
	binDir  string
	url     string
	etcdURL string
	caPEM   []byte
	ca      *authority
	admin   *User
	apiArgs []string
	probe   *http.Client

	mu        sync.Mutex
	etcd      *process
	apiserver *process
	stopped   bool
	saveTo    string
}

// Start starts etcd and kube-apiserver and returns once /readyz answers 200.
// On error nothing is left running and the plane directory is removed.
func Start(ctx context.Context, opts Options) (_ *Plane, err error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	cidrs, kubernetesIP, err := serviceCIDRs(opts.ServiceCIDR, opts.ServiceCIDRv6)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{KubeAPIServer, Etcd} {
		if _, err := Binary(opts.BinDir, name); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(opts.TempDir, "ipvs-proxy-apiserver-")
	if err != nil {
		return nil, fmt.Errorf("creating plane directory: %w", err)
	}
	p := &Plane{opts: opts, dir: dir, binDir: opts.BinDir}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Stop())
		}
	}()
	if err := p.writeCredentials(servingHosts(kubernetesIP, opts.ExtraSANs)); err != nil {
		return nil, err
	}
	if err := p.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := p.startFirstAPIServer(ctx, cidrs); err != nil {
		return nil, err
	}
	if p.admin, err = p.NewUser(adminUser, mastersGroup); err != nil {
		return nil, err
	}
	if err := p.waitSettled(ctx); err != nil {
		return nil, err
	}
	if err := os.Symlink(p.admin.Kubeconfig, filepath.Join(dir, kubeconfigName)); err != nil {
		return nil, fmt.Errorf("linking admin kubeconfig: %w", err)
	}
	return p, nil
}

// writeCredentials creates the CA, the serving certificate and the service
// account key, and writes them where the flags expect them.
func (p *Plane) writeCredentials(hosts []string) error {
	ca, err := newAuthority("ipvs-proxy-test-ca")
	if err != nil {
		return err
	}
	serving, err := ca.issueServing("kube-apiserver", hosts)
	if err != nil {
		return err
	}
	saKey, err := newSigningKey()
	if err != nil {
		return err
	}
	p.ca, p.caPEM = ca, ca.pem
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	p.probe = &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
	}}
	return writeFiles(p.dir, map[string][]byte{
		caFile: ca.pem, servingCert: serving.CertPEM, servingKey: serving.KeyPEM, saKeyFile: saKey,
	})
}

// startEtcd starts etcd on two free ports, retrying when another process takes
// a port between picking and binding it.
func (p *Plane) startEtcd(ctx context.Context) error {
	bin, _ := Binary(p.binDir, Etcd)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(2); err != nil {
			return err
		}
		p.etcdURL = "http://" + net.JoinHostPort(loopback, strconv.Itoa(ports[0]))
		data := filepath.Join(p.dir, etcdDataDir)
		if p.opts.EtcdFrom != "" {
			if err := copyDir(p.opts.EtcdFrom, data); err != nil {
				return err
			}
		}
		args := etcdArgs(data, ports[0], ports[1])
		if p.etcd, err = startProcess(Etcd, bin, args, p.dir); err != nil {
			return err
		}
		if err = p.waitReady(ctx, p.etcd, p.etcdURL+"/health"); err == nil || !p.etcd.addrInUse() {
			return err
		}
		// The failed data dir may hold a half-initialised member.
		if rmErr := os.RemoveAll(filepath.Join(p.dir, etcdDataDir)); rmErr != nil {
			return errors.Join(err, rmErr)
		}
	}
	return err
}

// startFirstAPIServer picks the API server's port and starts it, retrying on
// a port taken in the meantime. Restarts keep that port.
func (p *Plane) startFirstAPIServer(ctx context.Context, cidrs []string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(1); err != nil {
			return err
		}
		p.url = "https://" + net.JoinHostPort(loopback, strconv.Itoa(ports[0]))
		p.apiArgs = apiServerArgs(p.dir, p.etcdURL, ports[0], cidrs, p.opts.APIServerFlags)
		if err = p.StartAPIServer(ctx); err == nil || !p.apiServerAddrInUse() {
			return err
		}
	}
	return err
}

func (p *Plane) apiServerAddrInUse() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.apiserver != nil && p.apiserver.addrInUse()
}

// StartAPIServer starts the API server after StopAPIServer, on the same port
// and with the same certificates and etcd, and waits for /readyz. Starting one
// that is running is an error.
func (p *Plane) StartAPIServer(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("plane is stopped")
	}
	if p.apiserver != nil && p.apiserver.running() {
		return errors.New("kube-apiserver is already running")
	}
	bin, err := Binary(p.binDir, KubeAPIServer)
	if err != nil {
		return err
	}
	if p.apiserver, err = startProcess(KubeAPIServer, bin, p.apiArgs, p.dir); err != nil {
		return err
	}
	return p.waitReady(ctx, p.apiserver, p.url+"/readyz")
}

// StopAPIServer stops the API server and leaves etcd running. Stopping one
// that is not running does nothing.
func (p *Plane) StopAPIServer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopAPIServerLocked()
}

func (p *Plane) stopAPIServerLocked() error {
	if p.apiserver == nil {
		return nil
	}
	return p.apiserver.stop(30 * time.Second)
}

// KillAPIServer kills the API server with SIGKILL, as a crash or an OOM kill
// would: clients see their connections reset rather than closed. Start it
// again with StartAPIServer.
func (p *Plane) KillAPIServer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.apiserver == nil {
		return nil
	}
	return p.apiserver.stop(0)
}

// Restart stops the API server and starts it again; etcd and its data stay.
func (p *Plane) Restart(ctx context.Context) error {
	if err := p.StopAPIServer(); err != nil {
		return err
	}
	return p.StartAPIServer(ctx)
}

// Stop stops the API server, then etcd (an API server whose etcd is gone
// hangs in its graceful shutdown), and removes the plane directory unless it
// is kept. Calling it again does nothing.
func (p *Plane) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	err := p.stopAPIServerLocked()
	if p.etcd != nil {
		err = errors.Join(err, p.etcd.stop(10*time.Second))
	}
	if p.saveTo != "" && err == nil {
		err = saveDir(filepath.Join(p.dir, etcdDataDir), p.saveTo)
	}
	if p.keepDir() {
		return err
	}
	return errors.Join(err, os.RemoveAll(p.dir))
}

// SaveEtcdOnStop makes Stop copy etcd's data directory to dir once etcd
// has stopped, replacing what dir held: a later plane can start from it
// (Options.EtcdFrom).
func (p *Plane) SaveEtcdOnStop(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saveTo = dir
}

// copyDir copies directory src to dst, which must not exist.
func copyDir(src, dst string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s to %s: %w: %s", src, dst, err, out)
	}
	return nil
}

// saveDir replaces dst with a copy of src: copied beside it first, so that
// dst is never half written.
func saveDir(src, dst string) error {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyDir(src, tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func (p *Plane) keepDir() bool {
	return p.opts.KeepDir || os.Getenv("IPVS_PROXY_KEEP_PLANE") == "1"
}

// waitReady waits until url answers 200 while proc runs, within StartTimeout.
func (p *Plane) waitReady(ctx context.Context, proc *process, url string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, p.opts.StartTimeout,
		fmt.Errorf("not ready after %v", p.opts.StartTimeout))
	defer cancel()
	return proc.waitReady(ctx, func(ctx context.Context) error { return getOK(ctx, p.probe, url) })
}

// getOK returns nil when GET url answers 200.
func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// settledPaths are objects the API server creates shortly after /readyz. Tests
// start once they exist, so a daemon under test sees a cluster that no longer
// changes by itself (the default/kubernetes Service would otherwise appear in
// the middle of a test).
var settledPaths = []string{
	"/api/v1/namespaces/kube-system",
	"/api/v1/namespaces/default/services/kubernetes",
}

// waitSettled waits until every settledPath answers 200 to the admin.
func (p *Plane) waitSettled(ctx context.Context) error {
	client, err := rest.HTTPClientFor(p.admin.Config())
	if err != nil {
		return fmt.Errorf("building admin HTTP client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	for _, path := range settledPaths {
		if err := p.apiserver.waitReady(ctx, func(ctx context.Context) error {
			return getOK(ctx, client, p.url+path)
		}); err != nil {
			return err
		}
	}
	return nil
}

// URL is the API server's address, https://127.0.0.1:PORT.
func (p *Plane) URL() string { return p.url }

// EtcdURL is etcd's client address.
func (p *Plane) EtcdURL() string { return p.etcdURL }

// Dir is the plane directory: certificates, kubeconfigs, etcd data and the
// etcd.log and kube-apiserver.log files.
func (p *Plane) Dir() string { return p.dir }

// CACert is the PEM certificate of the CA that signed the serving certificate
// and every client certificate.
func (p *Plane) CACert() []byte { return p.caPEM }

// Admin is the system:masters user the plane was started with.
func (p *Plane) Admin() *User { return p.admin }

// Kubeconfig is the path of the admin kubeconfig (self-contained: the
// certificates are embedded).
func (p *Plane) Kubeconfig() string { return filepath.Join(p.dir, kubeconfigName) }

// LogTail returns the last n lines of the kube-apiserver log.
func (p *Plane) LogTail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.apiserver == nil {
		return ""
	}
	return p.apiserver.logTail(n)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}
