package sysctl

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestFakeInjectError(t *testing.T) {
	boom := errors.New("boom")
	f := NewFake(map[string]string{"a.b": "1", "a.c": "2"})
	f.InjectError("Set", "a.b", boom)
	if err := f.Set("a.b", "3"); !errors.Is(err, boom) {
		t.Errorf("Set(a.b) = %v, want boom", err)
	}
	if err := f.Set("a.c", "3"); err != nil {
		t.Errorf("Set(a.c) = %v, want nil", err)
	}
	f.InjectError("Get", "", boom)
	if _, err := f.Get("a.c"); !errors.Is(err, boom) {
		t.Errorf("Get(a.c) = %v, want boom", err)
	}
	f.InjectError("Get", "", nil)
	f.InjectError("Set", "a.b", nil)
	if err := f.Set("a.b", "3"); err != nil {
		t.Errorf("Set(a.b) after clearing = %v", err)
	}
	if got, want := f.Dump(), "a.b = 3\na.c = 3\n"; got != want {
		t.Errorf("Dump() = %q, want %q", got, want)
	}
	if got, want := f.Counts(), (Counts{Reads: 1, Writes: 3}); got != want {
		t.Errorf("Counts() = %+v, want %+v", got, want)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(map[string]string{"a.b": "0"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				_ = f.Set("a.b", fmt.Sprint(i*100+j))
				_, _ = f.Get("a.b")
				_ = f.Dump()
			}
		}()
	}
	wg.Wait()
	if c := f.Counts(); c.Reads != 800 || c.Writes != 800 {
		t.Errorf("Counts() = %+v, want 800 reads and writes", c)
	}
}
