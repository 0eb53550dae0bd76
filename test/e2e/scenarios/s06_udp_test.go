//go:build e2eguest

package scenarios

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/test/e2e/guest"
)

// udpMaxLost bounds the datagrams a steady client may lose while its
// backend is replaced: those sent between the backend's death and the
// kernel's update, which takes the API write, the watch, the daemon's
// minimum sync period (100ms here) and the conntrack flush. At one datagram
// every 20ms, 25 is half a second; without the flush the flow would stick to
// the dead backend until its conntrack entry timed out (30s and more).
const udpMaxLost = 25

// Test06UDP: a DNS-like client sends a datagram every 20ms on one socket
// (one flow, so IPVS and conntrack keep sending it to the same backend).
// Its backend b dies and is replaced by c in the EndpointSlice. The daemon
// deletes b's real server at once and flushes b's conntrack entries: the
// flow moves to a live backend having lost at most a handful of datagrams,
// and no conntrack entry still points at b.
func Test06UDP(t *testing.T) {
	e := setup(t)
	pods := e.pods("a", "b", "c")
	a, b, c := pods[0], pods[1], pods[2]
	cl := e.client("client", 200)
	svc := e.service("dns", udp)
	for _, v6 := range []bool{false, true} {
		e.slices(svc, ready(a), ready(b))
		if len(e.daemons) == 0 {
			e.daemon()
		}
		vip := e.clusterIP(svc, v6)
		e.waitWeights(vip, "udp", weights(v6, 1, a, b))
		conn := e.udpFlowTo(cl, vip, "b")
		stream := guest.StartUDPStream(conn, 20*time.Millisecond)
		time.Sleep(time.Second)

		e.must(b.Srv.Close(), "stopping b's server") // b dies...
		from := stream.Sent()
		e.slicesInOrder(svc, []bool{v6, !v6}, ready(a), ready(c)) // ...and c replaces it
		took := e.waitWeights(vip, "udp", weights(v6, 1, a, c))
		t.Logf("%s: b's real server was replaced by c after %v", family(v6), took)
		time.Sleep(2 * time.Second)
		sent := stream.Stop()
		conn.Close()

		answers := stream.Answers(from, sent)
		lost, moved := 0, ""
		for _, name := range answers {
			switch {
			case name == "":
				lost++
			case name == "b":
				t.Errorf("%s: b answered after it died", family(v6))
			case moved == "":
				moved = name
			}
		}
		tail := answers[len(answers)-25:]
		t.Logf("%s: %d datagrams after b died: %d lost, the flow moved to %q; answers in order: %s",
			family(v6), len(answers), lost, moved, runs(stream.Answers(0, sent)))
		if lost > udpMaxLost {
			t.Errorf("%s: %d datagrams lost while b was replaced, want at most %d", family(v6), lost, udpMaxLost)
		}
		for _, name := range tail {
			if name != moved || name == "" {
				t.Errorf("%s: the flow did not settle on one live backend: last 25 answers %v", family(v6), tail)
				break
			}
		}
		e.checkNoConntrack(b.Addr(v6))
		b = e.restartServer(b)
	}
}

// udpFlowTo opens UDP sockets from ns to vip until one's flow reaches
// backend want, and returns it.
func (e *env) udpFlowTo(ns *guest.Netns, vip netip.AddrPort, want string) *guest.UDPConn {
	e.t.Helper()
	for i := 0; i < 20; i++ {
		conn, err := ns.DialUDP(vip)
		e.must(err, "opening a UDP socket")
		name, err := conn.Ask(1000+i, 2*time.Second)
		e.must(err, "asking over UDP")
		if name == want {
			return conn
		}
		conn.Close()
	}
	e.t.Fatalf("20 UDP flows to %s never reached %s", vip, want)
	return nil
}

// checkNoConntrack fails the test if a UDP conntrack entry still has its
// reply coming from addr.
func (e *env) checkNoConntrack(addr netip.Addr) {
	e.t.Helper()
	fam := "ipv4"
	if addr.Is6() {
		fam = "ipv6"
	}
	out, _ := guest.Run("conntrack", "-L", "-f", fam, "-p", "udp", "--reply-src", addr.String())
	var entries []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "udp") {
			entries = append(entries, l)
		}
	}
	if len(entries) > 0 {
		e.t.Errorf("conntrack still has UDP entries from %s:\n%s", addr, strings.Join(entries, "\n"))
	} else {
		e.t.Logf("No UDP conntrack entry from %s is left", addr)
	}
}

// restartServer serves the pod again (for the next family) and returns it.
func (e *env) restartServer(p *guest.Pod) *guest.Pod {
	e.t.Helper()
	srv, err := guest.Serve(p.Net, p.Name, guest.BackendPort)
	e.must(err, "restarting "+p.Name+"'s server")
	p.Srv = srv
	return p
}

// runs prints answers run-length encoded: "b*50 -*3 a*47" ("-" is lost).
func runs(answers []string) string {
	var parts []string
	for i := 0; i < len(answers); {
		j := i
		for j < len(answers) && answers[j] == answers[i] {
			j++
		}
		name := answers[i]
		if name == "" {
			name = "-"
		}
		parts = append(parts, fmt.Sprintf("%s*%d", name, j-i))
		i = j
	}
	return strings.Join(parts, " ")
}
