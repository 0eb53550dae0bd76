package probe

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture the benchmark runs on.
const clockTicks = 100

// Usage is a process's CPU time and memory.
type Usage struct {
	CPU time.Duration // utime + stime
	// PeakRSSKiB is VmHWM, RSSKiB VmRSS.
	PeakRSSKiB, RSSKiB int64
}

// ReadUsage reads pid's /proc/PID/stat and /proc/PID/status.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return Usage{}, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	defer f.Close()
	u := Usage{CPU: cpu}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch name {
		case "VmHWM":
			u.PeakRSSKiB, err = parseKiB(value)
		case "VmRSS":
			u.RSSKiB, err = parseKiB(value)
		}
		if err != nil {
			return Usage{}, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
	}
	return u, sc.Err()
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a /proc/PID/stat
// line; the command name (field 2) may hold spaces and parentheses, so the
// fields are counted after its last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/PID/stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/PID/stat %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat times: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseKiB parses "   12345 kB".
func parseKiB(v string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
}
