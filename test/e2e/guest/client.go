package guest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// DialTimeout bounds every client connection attempt.
const DialTimeout = 2 * time.Second

// Conn is a TCP client connection opened from a Netns.
type Conn struct {
	net.Conn
	r *bufio.Reader
}

// Dial opens a TCP connection to addr from inside the namespace.
func (n *Netns) Dial(addr netip.AddrPort) (*Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		d := net.Dialer{Timeout: DialTimeout}
		c, err = d.DialContext(context.Background(), "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting from %s to %s: %w", n.Name, addr, err)
	}
	return &Conn{Conn: c, r: bufio.NewReader(c)}, nil
}

// Ask sends one line and returns the backend's answer, waiting at most
// timeout for it.
func (c *Conn) Ask(timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte("who\n")); err != nil {
		return "", fmt.Errorf("writing to %s: %w", c.RemoteAddr(), err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading from %s: %w", c.RemoteAddr(), err)
	}
	return strings.TrimSpace(line), nil
}

// AskFrom asks the backend for its name and the client address it sees
// (after any masquerade).
func (c *Conn) AskFrom(timeout time.Duration) (name string, from netip.AddrPort, err error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", from, err
	}
	if _, err := c.Write([]byte("from\n")); err != nil {
		return "", from, fmt.Errorf("writing to %s: %w", c.RemoteAddr(), err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", from, fmt.Errorf("reading from %s: %w", c.RemoteAddr(), err)
	}
	name, addr, _ := strings.Cut(strings.TrimSpace(line), " ")
	from, err = netip.ParseAddrPort(addr)
	if err != nil {
		return name, from, fmt.Errorf("backend %s answered %q", name, line)
	}
	return name, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
}

// Ask opens a connection to addr, asks which backend answers and closes it.
func (n *Netns) Ask(addr netip.AddrPort) (string, error) {
	c, err := n.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Ask(DialTimeout)
}

// Spread makes count sequential connections to addr and counts the backends
// that answered. It stops at the first failure.
func (n *Netns) Spread(addr netip.AddrPort, count int) (Counts, error) {
	got := Counts{}
	for i := 0; i < count; i++ {
		name, err := n.Ask(addr)
		if err != nil {
			return got, fmt.Errorf("connection %d of %d: %w", i+1, count, err)
		}
		got[name]++
	}
	return got, nil
}

// Counts maps backend names to how many connections or datagrams they
// answered.
type Counts map[string]int

// String prints the counts sorted by name: "a=10 b=10".
func (c Counts) String() string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, c[n])
	}
	return strings.Join(parts, " ")
}

// UDPConn is a connected UDP socket opened from a Netns.
type UDPConn struct {
	net.Conn
}

// DialUDP opens a UDP socket from inside the namespace, connected to addr.
func (n *Netns) DialUDP(addr netip.AddrPort) (*UDPConn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = net.Dial("udp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening udp from %s to %s: %w", n.Name, addr, err)
	}
	return &UDPConn{Conn: c}, nil
}

// Ask sends datagram seq and waits up to timeout for its answer, skipping
// late answers to earlier datagrams. It returns the backend's name.
func (u *UDPConn) Ask(seq int, timeout time.Duration) (string, error) {
	if err := u.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	want := fmt.Sprint(seq)
	if _, err := u.Write([]byte(want)); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	for {
		n, err := u.Read(buf)
		if err != nil {
			return "", err
		}
		name, got, ok := strings.Cut(string(buf[:n]), " ")
		if ok && got == want {
			return name, nil
		}
	}
}

// HTTPGet fetches url from inside the namespace and returns the status code
// and body.
func (n *Netns) HTTPGet(url string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := n.Do(func() error {
				var err error
				c, err = (&net.Dialer{Timeout: DialTimeout}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
