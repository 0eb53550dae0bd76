package guest

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// UDPStream is a DNS-like client that keeps one UDP socket (one flow) and
// sends a numbered datagram every interval, recording which backend
// answered each.
type UDPStream struct {
	conn     *UDPConn
	interval time.Duration
	mu       sync.Mutex
	sent     int
	answers  map[int]string
	stopSend chan struct{}
	sendDone chan struct{}
	stopRecv chan struct{}
	recvDone chan struct{}
}

// StartUDPStream starts sending on conn every interval. It clears the
// connection's deadlines.
func StartUDPStream(conn *UDPConn, interval time.Duration) *UDPStream {
	_ = conn.SetDeadline(time.Time{})
	s := &UDPStream{conn: conn, interval: interval, answers: map[int]string{},
		stopSend: make(chan struct{}), sendDone: make(chan struct{}),
		stopRecv: make(chan struct{}), recvDone: make(chan struct{})}
	go s.send()
	go s.receive()
	return s
}

func (s *UDPStream) send() {
	defer close(s.sendDone)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		s.mu.Lock()
		s.sent = seq + 1
		s.mu.Unlock()
		// An ICMP port unreachable from a dying backend makes the next
		// write fail with ECONNREFUSED: that datagram is lost, keep going.
		_, _ = s.conn.Write([]byte(strconv.Itoa(seq)))
		select {
		case <-s.stopSend:
			return
		case <-tick.C:
		}
	}
}

func (s *UDPStream) receive() {
	defer close(s.recvDone)
	buf := make([]byte, 512)
	for {
		select {
		case <-s.stopRecv:
			return
		default:
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := s.conn.Read(buf)
		if err != nil {
			continue // a timeout, or ECONNREFUSED from a dying backend
		}
		name, seqText, ok := strings.Cut(string(buf[:n]), " ")
		if seq, err := strconv.Atoi(seqText); ok && err == nil {
			s.mu.Lock()
			s.answers[seq] = name
			s.mu.Unlock()
		}
	}
}

// Sent returns how many datagrams were sent so far.
func (s *UDPStream) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Answers returns, for datagrams from..to-1, the backend that answered each
// ("" when none did).
func (s *UDPStream) Answers(from, to int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, to-from)
	for seq := from; seq < to; seq++ {
		out = append(out, s.answers[seq])
	}
	return out
}

// Stop stops sending, waits a moment for the last answers, stops receiving
// and returns how many datagrams were sent.
func (s *UDPStream) Stop() int {
	close(s.stopSend)
	<-s.sendDone
	time.Sleep(300 * time.Millisecond)
	close(s.stopRecv)
	<-s.recvDone
	return s.Sent()
}
