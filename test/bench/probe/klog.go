package probe

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// klogHeader matches klog's text header: "I1125 12:34:56.123456 ...".
var klogHeader = regexp.MustCompile(`^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) `)

// LogTime returns when every one of wants was first logged: the latest of
// each want's first matching line, where a line matches a want when it
// contains all of the want's parts. ok is false until every want matched.
// year and loc complete klog's header, which has neither.
func LogTime(path string, year int, loc *time.Location, wants ...[]string) (at time.Time, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false, err
	}
	defer f.Close()
	first := make([]time.Time, len(wants))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for i, parts := range wants {
			if first[i].IsZero() && containsAll(line, parts) {
				if first[i], err = lineTime(line, year, loc); err != nil {
					return time.Time{}, false, err
				}
			}
		}
	}
	for _, t := range first {
		if t.IsZero() {
			return time.Time{}, false, sc.Err()
		}
		if t.After(at) {
			at = t
		}
	}
	return at, true, sc.Err()
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// lineTime parses a klog line's header.
func lineTime(line string, year int, loc *time.Location) (time.Time, error) {
	m := klogHeader.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, fmt.Errorf("no klog header in %q", line)
	}
	var n [6]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1]) // the regexp matched digits; "08" is decimal
	}
	return time.Date(year, time.Month(n[0]), n[1], n[2], n[3], n[4], n[5]*1000, loc), nil
}
