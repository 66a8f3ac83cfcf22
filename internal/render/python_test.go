package render

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// pythonDecode is a Python 3 program that reads the messages named on its
// command line with the standard library's email.policy.default and
// prints, for each, every header as decoded text, address headers also as
// (display name, addr-spec) pairs, and the parser's defects.
const pythonDecode = `
import json, sys
from email import message_from_bytes
from email.policy import default
out = []
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        m = message_from_bytes(f.read(), policy=default)
    hs = []
    for k, v in m.items():
        h = {'name': k, 'text': str(v), 'defects': [repr(d) for d in v.defects]}
        if hasattr(v, 'addresses'):
            h['addresses'] = [[a.display_name, a.addr_spec] for a in v.addresses]
        hs.append(h)
    out.append(hs)
json.dump(out, sys.stdout, ensure_ascii=False)
`

type pyHeader struct {
	Name      string      `json:"name"`
	Text      string      `json:"text"`
	Defects   []string    `json:"defects"`
	Addresses [][2]string `json:"addresses"`
}

// decodedByPython decodes messages with Python's email.policy.default.
func decodedByPython(t *testing.T, msgs [][]byte) [][]pyHeader {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the check with Python's email package is skipped")
	}
	dir := t.TempDir()
	args := []string{"-c", pythonDecode}
	for i, m := range msgs {
		p := filepath.Join(dir, fmt.Sprintf("m%d.eml", i))
		if err := os.WriteFile(p, m, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python3: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python3: %v", err)
	}
	var res [][]pyHeader
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python3 output: %v\n%s", err, out)
	}
	return res
}

// rawHeaders returns the header fields of a message's top level, unfolded
// (CRLF removed), by name.
func rawHeaders(data []byte) map[string]string {
	head, _, _ := strings.Cut(string(data), "\r\n\r\n")
	out := map[string]string{}
	var last string
	for _, l := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			out[last] += l
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		last = strings.ToLower(k)
		out[last] = v
	}
	return out
}

// wordsOf decodes the encoded-words of a raw header value one by one.
func wordsOf(t *testing.T, raw string) []string {
	var ws []string
	for _, w := range encodedWordRE.FindAllString(raw, -1) {
		d, err := wordDecoder.Decode(w)
		if err != nil {
			t.Fatalf("word %s: %v", w, err)
		}
		ws = append(ws, d)
	}
	return ws
}

// A rendered case: the message and the source text of its headers.
type headerCase struct {
	name               string
	data               []byte
	subject            string
	fromName, fromAddr string
	toName, toAddr     string
	replyName          string
	replyAddr          string // "" when Reply-To is a per-delivery inbound address
}

// Every header of every example message (both locales, events, a long
// company name and a long subject, a legacy docomo address), decoded by
// Python's email.policy.default, says what the source says. Display names
// too long for one encoded-word may show a space at each split (Python
// does not drop the whitespace between encoded-words, RFC 2047 §6.2).
func TestHeadersDecodeInPython(t *testing.T) {
	t.Parallel()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	cs = append(cs, newsletter(), event())
	legacy := yamada()
	legacy.Email = "taro..yamada@docomo.ne.jp"
	var cases []headerCase
	add := func(c *campaigns.Campaign, o Options, label string) {
		p := mustPrepare(t, c, o)
		from, err := mail.ParseAddress(c.From)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []Recipient{yamada(), smith(), legacy} {
			if _, ok := c.Template.Body[r.Locale]; !ok {
				continue
			}
			m := mustRender(t, p, r)
			hc := headerCase{name: c.ID + "/" + r.Locale + "/" + r.Email + label, data: m.Data,
				subject: p.RenderParts(r).Subject, fromName: from.Name, fromAddr: from.Address,
				toName: fullName(r.FamilyName, r.GivenName, p.locale(r.Locale).locale), toAddr: r.Email}
			if o.InboundAddress == "" && c.ReplyTo != "" {
				rt, err := mail.ParseAddress(c.ReplyTo)
				if err != nil {
					t.Fatal(err)
				}
				hc.replyName, hc.replyAddr = rt.Name, rt.Address
			}
			cases = append(cases, hc)
		}
	}
	inbound := testOptions()
	inbound.InboundAddress = "reply@mail.example.co.jp"
	for _, c := range cs {
		add(c, inbound, "")
		// The same campaign with a company name and a subject too long for
		// one encoded-word, and a named Reply-To.
		long := *c
		long.From = "株式会社サンプル技研ホールディングス 人事本部 アルムナイ・リレーション推進室 <alumni@example.co.jp>"
		long.ReplyTo = "サンプル技研 アルムナイ事務局（平日10時〜17時） <alumni-desk@example.co.jp>"
		long.Subject = map[string]string{}
		for loc, s := range c.Subject {
			long.Subject[loc] = s + " ／ 【重要】お申し込みの締め切りは十二月十八日金曜日の正午までとなっております — Registration closes on Friday 18 December at noon"
		}
		add(&long, testOptions(), " (long)")
	}
	decoded := decodedByPython(t, func() [][]byte {
		var ms [][]byte
		for _, c := range cases {
			ms = append(ms, c.data)
		}
		return ms
	}())
	if len(decoded) != len(cases) {
		t.Fatalf("python3 decoded %d messages, want %d", len(decoded), len(cases))
	}
	for i, c := range cases {
		raw := rawHeaders(c.data)
		seen := map[string]bool{}
		for _, h := range decoded[i] {
			name := strings.ToLower(h.Name)
			seen[name] = true
			if len(h.Defects) > 0 {
				t.Errorf("%s: %s: defects %v", c.name, h.Name, h.Defects)
			}
			switch name {
			case "subject":
				if h.Text != c.subject {
					t.Errorf("%s: Subject decodes to %q, want %q", c.name, h.Text, c.subject)
				}
			case "from":
				checkPyAddress(t, c.name, h, raw[name], c.fromName, c.fromAddr)
			case "to":
				checkPyAddress(t, c.name, h, raw[name], c.toName, c.toAddr)
			case "reply-to":
				if c.replyAddr != "" {
					checkPyAddress(t, c.name, h, raw[name], c.replyName, c.replyAddr)
				} else if len(h.Addresses) != 1 || !strings.HasPrefix(h.Addresses[0][1], "reply+") {
					t.Errorf("%s: Reply-To decodes to %q", c.name, h.Addresses)
				}
			default:
				// Every other header is plain ASCII and decodes to itself.
				if encodedWordRE.MatchString(raw[name]) {
					t.Errorf("%s: %s is encoded but not checked: %s", c.name, h.Name, raw[name])
				}
				text := h.Text
				if name == "content-type" {
					text = strings.ReplaceAll(text, `"`, "") // Python quotes the boundary
				}
				if strings.Join(strings.Fields(text), " ") != strings.Join(strings.Fields(raw[name]), " ") {
					t.Errorf("%s: %s decodes to %q, written %q", c.name, h.Name, h.Text, raw[name])
				}
			}
		}
		for _, want := range []string{"subject", "from", "to", "reply-to"} {
			if !seen[want] {
				t.Errorf("%s: no %s header", c.name, want)
			}
		}
	}
}

// checkPyAddress compares an address header as Python decoded it with the
// source name and stored address.
func checkPyAddress(t *testing.T, where string, h pyHeader, raw, name, addr string) {
	t.Helper()
	if len(h.Addresses) != 1 {
		t.Errorf("%s: %s decodes to %d addresses: %q", where, h.Name, len(h.Addresses), h.Text)
		return
	}
	got := h.Addresses[0]
	if got[1] != addr {
		t.Errorf("%s: %s address %q, want %q (written %s)", where, h.Name, got[1], addr, raw)
	}
	words := wordsOf(t, raw)
	if got[0] == name {
		return
	}
	// The accepted difference: a space at each split of a name that did not
	// fit one encoded-word.
	if len(words) > 1 && strings.Join(words, "") == name && got[0] == strings.Join(words, " ") {
		return
	}
	t.Errorf("%s: %s display name %q, want %q (written %s)", where, h.Name, got[0], name, raw)
}
