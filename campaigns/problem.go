package campaigns

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one validation error at a position in a file. Line and Col are
// 1-based; both are 0 when the problem concerns the whole file (it cannot
// be read, or two files clash).
type Problem struct {
	File      string
	Line, Col int
	Message   string
}

// String formats the problem as "file:line:col: message", the form editors
// and CI annotations recognise.
func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
}

// Problems is a list of problems; it implements error (all of them, one per
// line).
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortDedup orders problems by file, line, column and message and drops
// exact repeats (an error in kizuna.yaml is found once per campaign that
// inherits it).
func (ps Problems) sortDedup() Problems {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
	out := ps[:1]
	for _, p := range ps[1:] {
		if p != out[len(out)-1] {
			out = append(out, p)
		}
	}
	return out
}
