package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCountIPVS(t *testing.T) {
	table := `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C6120001:01BB rr
TCP  C6120100:0050 rr
  -> C6130000:1F90      Masq    1      0          0
  -> C6130001:1F90      Masq    0      0          0
UDP  C6120101:0035 rr
  -> C6130002:1F90      Masq    1      0          0
FWM  00000001 rr
`
	vs, rs, err := countIPVS(strings.NewReader(table))
	if err != nil || vs != 4 || rs != 3 {
		t.Errorf("countIPVS = %d virtual, %d real, %v; want 4, 3", vs, rs, err)
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{name: "plain", stat: "42 (kube-proxy) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0",
			want: 3250 * time.Millisecond},
		{name: "name with spaces and parens", stat: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0",
			want: 30 * time.Millisecond},
		{name: "malformed", stat: "7 a R 1", wantErr: true},
		{name: "short", stat: "7 (a) R 1 2", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadUsageSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakRSSKiB <= 0 || u.RSSKiB <= 0 || u.PeakRSSKiB < u.RSSKiB {
		t.Errorf("ReadUsage(self) = %+v: want 0 < VmRSS <= VmHWM", u)
	}
}

func TestLogTime(t *testing.T) {
	log := `I1125 10:00:01.000100       1 server.go:1] "Starting"
I1125 10:00:02.500000       1 informers.go:9] "Informer synced" kind="Service"
I1125 10:08:09.250000       1 informers.go:9] "Informer synced" kind="EndpointSlice"
I1125 10:00:09.000000       1 informers.go:9] "Informer synced" kind="EndpointSlice"
`
	path := filepath.Join(t.TempDir(), "d.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	at, ok, err := LogTime(path, 2026, time.UTC, []string{"Informer synced", "Service"}, []string{"Informer synced", "EndpointSlice"})
	if want := time.Date(2026, 11, 25, 10, 8, 9, 250_000_000, time.UTC); err != nil || !ok || !at.Equal(want) {
		t.Errorf("LogTime = %v, %v, %v; want %v", at, ok, err, want)
	}
	if _, ok, err := LogTime(path, 2026, time.UTC, []string{"Informer synced", "Node"}); ok || err != nil {
		t.Errorf("LogTime(missing line) = ok %v, %v; want not ok", ok, err)
	}
}

func TestVerdictChain(t *testing.T) {
	attr := func(typ uint16, data []byte) []byte {
		b := make([]byte, 4, 4+len(data)+3)
		n := 4 + len(data)
		b[0], b[1] = byte(n), byte(n>>8) // little-endian hosts, as the kernel writes them
		b[2], b[3] = byte(typ), byte(typ>>8)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	code := attr(1, []byte{0xff, 0xff, 0xff, 0xfc}) // NFT_GOTO, big-endian
	chain := attr(2, []byte("service-ABC-bench/svc-00001/tcp/http\x00"))
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"code then chain", append(append([]byte{}, code...), chain...), "service-ABC-bench/svc-00001/tcp/http"},
		{"no chain", code, ""},
		{"truncated", chain[:6], ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdictChain(tc.in); got != tc.want {
				t.Errorf("verdictChain = %q, want %q", got, tc.want)
			}
		})
	}
}
