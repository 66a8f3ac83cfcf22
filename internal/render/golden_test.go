package render

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/kizuna-alumni/kizuna/campaigns"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// boundaryRE finds MIME boundaries, which are random. Message-IDs are not
// (they derive from the delivery) and stay in the golden files.
var boundaryRE = regexp.MustCompile(`boundary=([0-9a-f]+)`)

// normalizeHeaders returns the header block of every entity of a message
// (top level and parts) with the volatile values (boundaries) replaced, and each body reduced to its length.
func normalizeHeaders(data []byte) string {
	s := string(data)
	for i, m := range boundaryRE.FindAllStringSubmatch(s, -1) {
		s = strings.ReplaceAll(s, m[1], "BOUNDARY"+string(rune('A'+i)))
	}
	var out strings.Builder
	// go-mail writes header fields in map order: sort each header block's
	// fields (a field keeps its continuation lines).
	var fields []string
	flush := func() {
		sort.Strings(fields)
		for _, f := range fields {
			out.WriteString(f)
		}
		fields = fields[:0]
	}
	inHeader := true
	bodyLines := 0
	for _, l := range strings.Split(s, "\r\n") {
		switch {
		case strings.HasPrefix(l, "--BOUNDARY"):
			if bodyLines > 0 {
				out.WriteString("[body]\n")
			}
			bodyLines = 0
			out.WriteString(l + "\n")
			inHeader = true
		case inHeader && l == "":
			flush()
			out.WriteString("\n")
			inHeader = false
		case inHeader && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(fields) > 0:
			fields[len(fields)-1] += l + "\n"
		case inHeader:
			fields = append(fields, l+"\n")
		case l != "":
			bodyLines++
		}
	}
	return out.String()
}

// checkGolden compares got with testdata/golden/name, or rewrites it.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; review the change and run with -update.\n%s", name, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return ""
}

// writeGoldenSet renders r with p and checks its HTML, text, header and
// (events) invitation golden files, after parsing the message back.
func writeGoldenSet(t *testing.T, name string, p *Prepared, r Recipient) {
	t.Helper()
	m := mustRender(t, p, r)
	msg := parse(t, m.Data)
	pt := p.RenderParts(r)
	if msg.part(t, "text/html").body != pt.HTML || msg.part(t, "text/plain").body != pt.Text {
		t.Fatalf("%s: the MIME parts differ from the rendered parts", name)
	}
	checkGolden(t, name+".html", []byte(pt.HTML))
	checkGolden(t, name+".txt", []byte(pt.Text))
	checkGolden(t, name+".headers", []byte(normalizeHeaders(m.Data)))
	if pt.ICS != "" {
		checkGolden(t, name+".ics", []byte(pt.ICS))
	}
}

func TestGoldenConstructed(t *testing.T) {
	t.Parallel()
	inbound := testOptions()
	inbound.InboundAddress = "reply@mail.example.co.jp"
	for _, c := range []struct {
		name string
		p    *Prepared
		r    Recipient
	}{
		{"newsletter-ja", mustPrepare(t, newsletter(), testOptions()), yamada()},
		{"newsletter-en", mustPrepare(t, newsletter(), testOptions()), smith()},
		{"event-ja-inbound", mustPrepare(t, event(), inbound), yamada()},
		{"event-en", mustPrepare(t, event(), testOptions()), smith()},
	} {
		writeGoldenSet(t, "constructed/"+c.name, c.p, c.r)
	}
}

// Notices of the constructed event, one of each kind of calendar object
// (REQUEST with PARTSTAT=ACCEPTED or NEEDS-ACTION, CANCEL, none), in both
// locales.
func TestGoldenNotices(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		notice  string
		r       Recipient
		inbound bool
	}{
		{NoticeConfirmYes, yamada(), true},
		{NoticePromoted, yamada(), false},
		{NoticeReminder, yamada(), false},
		{NoticeCancellation, smith(), false},
		{NoticeUpdate, smith(), true},
		{NoticeWaitlisted, smith(), false},
	} {
		o := testOptions()
		o.Notice = c.notice
		name := "notices/" + c.notice + "-" + c.r.Locale
		if c.inbound {
			o.InboundAddress = "reply@mail.example.co.jp"
			name += "-inbound"
		}
		writeGoldenSet(t, name, mustPrepare(t, event(), o), c.r)
	}
}

// The example campaigns of examples/campaigns, loaded as users load them,
// rendered for a Japanese and an English alumnus.
func TestGoldenExamples(t *testing.T) {
	t.Parallel()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	if len(cs) < 4 {
		t.Fatalf("%d example campaigns, want at least 4", len(cs))
	}
	o := testOptions()
	o.InboundAddress = "reply@mail.example.co.jp"
	for _, c := range cs {
		p := mustPrepare(t, c, o)
		for _, r := range []Recipient{yamada(), smith()} {
			if _, ok := c.Template.Body[r.Locale]; !ok {
				continue
			}
			writeGoldenSet(t, "examples/"+c.ID+"-"+r.Locale, p, r)
			msg := parse(t, mustRender(t, p, r).Data)
			html := msg.part(t, "text/html").body
			for _, legal := range []string{c.Company.Name, c.Company.Address, c.Company.Contact, "https://alumni.example.co.jp/u/"} {
				if !strings.Contains(html, legal) {
					t.Errorf("%s/%s: footer lacks %q", c.ID, r.Locale, legal)
				}
			}
		}
	}
}
