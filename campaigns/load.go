package campaigns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// DefaultsFile is the name of the folder defaults every campaign inherits.
const DefaultsFile = "kizuna.yaml"

// maxFileSize bounds a campaign file: campaigns are small, and the bound
// keeps a stray large file from being parsed.
const maxFileSize = 1 << 20

// Load reads campaign files and/or folders. A folder: every *.yaml/*.yml
// except kizuna.yaml, with the folder's kizuna.yaml as defaults; a single
// file uses the kizuna.yaml beside it. Returns every valid campaign and
// every problem (sorted by file, line, col). Campaign ids must be unique
// across what is loaded.
func Load(paths ...string) ([]*Campaign, Problems) {
	l := &loader{defaults: map[string]*node{}, seen: map[string]bool{}}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			l.probs = append(l.probs, Problem{File: p, Message: describe(err)})
			continue
		}
		if !info.IsDir() {
			l.file(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			l.probs = append(l.probs, Problem{File: p, Message: describe(err)})
			continue
		}
		for _, e := range entries {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") || name == DefaultsFile {
				continue
			}
			l.file(filepath.Join(p, name))
		}
		// Check the defaults even when the folder holds no campaign.
		l.defaultsFor(p)
	}
	return l.finish()
}

// LoadFile is Load for one file, returning its campaign or its problems.
func LoadFile(path string) (*Campaign, Problems) {
	cs, probs := Load(path)
	if len(probs) > 0 || len(cs) != 1 {
		if len(probs) == 0 {
			probs = Problems{{File: path, Message: "not a campaign file"}}
		}
		return nil, probs
	}
	return cs[0], nil
}

type loader struct {
	defaults  map[string]*node // folder → parsed kizuna.yaml (nil: none)
	badDefs   map[string]bool  // folder → its kizuna.yaml has problems
	seen      map[string]bool  // files already loaded
	campaigns []*Campaign
	idNodes   map[*Campaign]*node
	probs     Problems
}

// describe turns a file system error into a short message.
func describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or folder"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readYAML reads and parses one file.
func readYAML(path string) (*node, Problems) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Problems{{File: path, Message: describe(err)}}
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, Problems{{File: path, Message: describe(err)}}
	}
	if len(src) > maxFileSize {
		return nil, Problems{{File: path, Message: fmt.Sprintf("file is larger than %d KiB; a campaign file is much smaller", maxFileSize>>10)}}
	}
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(src) {
		line := 1 + bytes.Count(src[:firstInvalid(src)], []byte("\n"))
		return nil, Problems{{File: path, Line: line, Col: 1, Message: "not UTF-8 text (save the file as UTF-8)"}}
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		line := 1 + bytes.Count(src[:i], []byte("\n"))
		return nil, Problems{{File: path, Line: line, Col: 1, Message: "the file holds a NUL byte: not a text file"}}
	}
	return parseYAML(path, src)
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// defaultsFor returns the parsed kizuna.yaml of dir (nil when there is
// none), checking it once.
func (l *loader) defaultsFor(dir string) *node {
	key := filepath.Clean(dir)
	if n, ok := l.defaults[key]; ok {
		return n
	}
	path := filepath.Join(dir, DefaultsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		l.defaults[key] = nil
		return nil
	}
	n, probs := readYAML(path)
	if n != nil {
		d := &decoder{defaults: true}
		d.decodeCampaign(n, path)
		probs = append(probs, d.probs...)
	}
	l.probs = append(l.probs, probs...)
	l.defaults[key] = n
	if len(probs) > 0 {
		if l.badDefs == nil {
			l.badDefs = map[string]bool{}
		}
		// Every campaign of the folder inherits them.
		l.badDefs[key] = true
	}
	return n
}

// file loads one campaign file.
func (l *loader) file(path string) {
	clean := filepath.Clean(path)
	if abs, err := filepath.Abs(path); err == nil {
		clean = abs
	}
	if l.seen[clean] {
		return
	}
	l.seen[clean] = true
	dir := filepath.Dir(path)
	if filepath.Base(path) == DefaultsFile {
		l.defaultsFor(dir)
		return
	}
	if strings.EqualFold(filepath.Base(path), "kizuna.yml") {
		l.probs = append(l.probs, Problem{File: path, Message: "folder defaults must be named kizuna.yaml"})
		return
	}
	def := l.defaultsFor(dir)
	root, probs := readYAML(path)
	if root == nil {
		l.probs = append(l.probs, probs...)
		return
	}
	if !present(root) {
		// Merging would make kizuna.yaml look like the campaign.
		l.probs = append(l.probs, probs...)
		if root.kind == nullNode {
			l.probs = append(l.probs, Problem{File: path, Line: 1, Col: 1, Message: "empty campaign file: id, kind, subject and template are required"})
		}
		return
	}
	d := &decoder{}
	c := d.decodeCampaign(merge(def, root), path)
	probs = append(probs, d.probs...)
	// Problems in inherited values belong to kizuna.yaml; the campaign is
	// invalid either way.
	l.probs = append(l.probs, probs...)
	if len(probs) > 0 || l.badDefs[filepath.Clean(dir)] {
		return
	}
	c.Digest = digest(c)
	if l.idNodes == nil {
		l.idNodes = map[*Campaign]*node{}
	}
	l.idNodes[c] = root.get("id")
	l.campaigns = append(l.campaigns, c)
}

// finish enforces unique ids and sorts the problems.
func (l *loader) finish() ([]*Campaign, Problems) {
	sort.SliceStable(l.campaigns, func(i, j int) bool { return l.campaigns[i].File < l.campaigns[j].File })
	first := map[string]*Campaign{}
	var out []*Campaign
	for _, c := range l.campaigns {
		if prev, dup := first[c.ID]; dup {
			n := l.idNodes[c]
			pn := l.idNodes[prev]
			l.probs = append(l.probs, Problem{File: c.File, Line: n.line, Col: n.col,
				Message: fmt.Sprintf("campaign id %q is already used by %s:%d", c.ID, prev.File, pn.line)})
			continue
		}
		first[c.ID] = c
		out = append(out, c)
	}
	return out, l.probs.sortDedup()
}

// digest is the SHA-256 of the canonical JSON of the merged campaign (map
// keys sorted by encoding/json); where the file lives is not content.
func digest(c *Campaign) string {
	cp := *c
	cp.File, cp.Digest = "", ""
	b, err := json.Marshal(&cp)
	if err != nil {
		// Campaign holds only plain data and validated times, so this
		// does not happen; a stable fallback keeps the loader panic-free.
		b = fmt.Appendf(nil, "%#v", cp)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
