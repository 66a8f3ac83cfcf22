package mailer

import (
	"bytes"
	"context"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fileSender writes each message into a directory as an .eml file (demos,
// dry runs): named after its Message-ID when it has one, else a sequence.
// Files appear atomically (written to a temporary name, synced, renamed),
// so a reader never sees half a message.
type fileSender struct {
	dir   string
	reply string
}

// fileSeq numbers messages without a Message-ID within this process; the
// timestamp and process ID in the name keep separate processes apart.
var fileSeq atomic.Uint64

func (f *fileSender) LastReply() string { return f.reply }

func (f *fileSender) Close() error { return nil }

func (f *fileSender) Send(ctx context.Context, env Envelope) error {
	f.reply = ""
	if err := checkEnvelope(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Stage: StageFile, Outcome: Temporary, Err: err}
	}
	fail := func(err error) error {
		return &SendError{Stage: StageFile, Outcome: Temporary, Err: fmt.Errorf("write message to %s: %w", f.dir, err)}
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fail(err)
	}
	name := fileName(env.Data)
	tmp, err := os.CreateTemp(f.dir, ".tmp-*.eml")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(env.Data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fail(err)
	}
	path := filepath.Join(f.dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	f.reply = "250 written to " + path
	return nil
}

// fileName derives a safe file name from the Message-ID header of data.
func fileName(data []byte) string {
	if id := headerValue(data, "Message-Id"); id != "" {
		id = strings.Trim(id, "<> \t")
		safe := strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@.-_+=", r):
				return r
			}
			return '_'
		}, id)
		safe = strings.TrimLeft(safe, ".") // no hidden files, no ".."
		if safe != "" && len(safe) <= 200 && strings.Trim(safe, ".") != "" {
			return safe + ".eml"
		}
	}
	return fmt.Sprintf("%s-%d-%s.eml", time.Now().UTC().Format("20060102T150405.000000000"),
		os.Getpid(), strconv.FormatUint(fileSeq.Add(1), 10))
}

// headerValue returns the first header named name in the header block of
// a raw message, unfolded, or "".
func headerValue(data []byte, name string) string {
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	} else if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		head = data[:i]
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	want := textproto.CanonicalMIMEHeaderKey(name)
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) != want {
			continue
		}
		for j := i + 1; j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t")); j++ {
			v += lines[j]
		}
		return strings.TrimSpace(v)
	}
	return ""
}
