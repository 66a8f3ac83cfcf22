package testbin

import (
	"fmt"
	"sync"
	"testing"
)

func TestBufferTakesConcurrentWritesAndFindsLines(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); fmt.Fprintf(&b, "level=INFO msg=sent n=%d\n", i) }()
	}
	wg.Wait()
	b.Write([]byte("\nlevel=ERROR msg=ALERT\n"))
	if n := len(b.Lines("msg=sent")); n != 8 {
		t.Errorf("%d sent lines, want 8:\n%s", n, b.String())
	}
	if got := b.Lines("level=ERROR", "ALERT"); len(got) != 1 || got[0] != "level=ERROR msg=ALERT" {
		t.Errorf("alert lines %q", got)
	}
	if got := b.Lines(); len(got) != 9 {
		t.Errorf("%d non-empty lines, want 9", len(got))
	}
	if got := b.Lines("absent"); got != nil {
		t.Errorf("no match gave %q, want nil", got)
	}
}
