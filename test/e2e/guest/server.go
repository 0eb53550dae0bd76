package guest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Server is a backend's TCP and UDP servers, listening on both families in a
// Netns. The TCP server answers every line it reads with the backend's name,
// and the line "from" with the name and the client address it sees;
// the UDP server answers every datagram "SEQ" with "NAME SEQ". Both say which
// backend a client reached, and a held TCP connection can be asked again.
type Server struct {
	Name string
	tcp  net.Listener
	udp  net.PacketConn

	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	udpSeen  int
	closed   bool
}

// Serve starts the servers of backend name in ns on port (TCP and UDP).
func Serve(ns *Netns, name string, port int) (*Server, error) {
	s := &Server{Name: name, conns: map[net.Conn]bool{}}
	addr := ":" + strconv.Itoa(port)
	err := ns.Do(func() error {
		var err error
		if s.tcp, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on tcp %s in %s: %w", addr, ns.Name, err)
		}
		if s.udp, err = net.ListenPacket("udp", addr); err != nil {
			s.tcp.Close()
			return fmt.Errorf("listening on udp %s in %s: %w", addr, ns.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	go s.acceptTCP()
	go s.serveUDP()
	return s, nil
}

func (s *Server) acceptTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.accepted++
		s.mu.Unlock()
		go s.answer(c)
	}
}

// answer writes the name for every line until the client closes.
func (s *Server) answer(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		answer := s.Name
		if strings.TrimSpace(line) == "from" {
			answer += " " + c.RemoteAddr().String()
		}
		if _, err := fmt.Fprintln(c, answer); err != nil {
			return
		}
	}
}

func (s *Server) serveUDP() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.udpSeen++
		s.mu.Unlock()
		reply := s.Name + " " + strings.TrimSpace(string(buf[:n]))
		_, _ = s.udp.WriteTo([]byte(reply), from)
	}
}

// Accepted returns how many TCP connections the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Open returns how many TCP connections are open.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Datagrams returns how many UDP datagrams the server received.
func (s *Server) Datagrams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpSeen
}

// Close stops listening and closes the open connections (with a FIN, if the
// namespace still has its link).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	err := errors.Join(s.tcp.Close(), s.udp.Close())
	for _, c := range conns {
		c.Close()
	}
	return err
}
