package web

import (
	"bytes"
	"context"
	"fmt"
	"image/gif"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// trackEnv is a real server on a free loopback port over a fresh
// database, with n sent deliveries (one alumnus each) of campaign "news".
type trackEnv struct {
	db      *testdb.DB
	srv     *Server
	base    string
	signer  *token.Signer
	ids     []int64
	now     atomic.Pointer[time.Time]
	sentAt  time.Time
	stop    context.CancelFunc
	served  chan error
	client  *http.Client
	stopped bool
}

func newTrackEnv(t testing.TB, n int, sentAgo time.Duration) *trackEnv {
	t.Helper()
	e := &trackEnv{db: testdb.New(t), signer: token.New([]byte("track-test-secret-0123456789abcdef"))}
	start := time.Now().UTC().Truncate(time.Millisecond)
	e.now.Store(&start)
	e.sentAt = start.Add(-sentAgo)
	alumni := testdb.AlumniSeries(t, e.db, testdb.AlumniOpts{N: n})
	testdb.Campaign(t, e.db, testdb.CampaignOpts{ID: "news"})
	run := testdb.Run(t, e.db, testdb.RunOpts{Campaign: "news", State: "done"})
	e.ids = testdb.Deliveries(t, e.db, testdb.DeliveriesOpts{Run: run, Alumni: alumni, State: "sent", SentAt: e.sentAt})
	srv, err := New(Options{DB: e.db.DB, Signer: e.signer, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return *e.now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.served = cancel, make(chan error, 1)
	go func() { e.served <- srv.Serve(ctx, ln) }()
	e.client = &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	}
	t.Cleanup(func() { e.shutdown(t) })
	return e
}

// shutdown cancels the server's context and waits for Serve to return.
func (e *trackEnv) shutdown(t testing.TB) {
	if e.stopped {
		return
	}
	e.stopped = true
	e.stop()
	if err := <-e.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// advance moves the server's clock by d.
func (e *trackEnv) advance(d time.Duration) {
	n := e.now.Load().Add(d)
	e.now.Store(&n)
}

func (e *trackEnv) openURL(i int) string {
	return e.base + "/o/" + e.signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: e.ids[i]})
}

func (e *trackEnv) clickToken(i, link int, target string) string {
	return e.signer.Sign(token.Claims{Purpose: token.Click, DeliveryID: e.ids[i], Link: link, URL: target})
}

func (e *trackEnv) get(t testing.TB, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// trackRow is a recorded event.
type trackRow struct {
	DeliveryID     int64  `db:"delivery_id"`
	Kind           string `db:"kind"`
	Classification string `db:"classification"`
	Target         string `db:"target"`
	Detail         string `db:"detail"`
	IP             string `db:"ip"`
	UserAgent      string `db:"user_agent"`
}

func (e *trackEnv) events(t testing.TB) []trackRow {
	t.Helper()
	var rows []trackRow
	if err := e.db.Select(&rows, `SELECT delivery_id, kind, classification, target, detail::text AS detail,
		coalesce(host(ip), '') AS ip, user_agent FROM delivery_events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestOpenAnswersTheGIFAndRecordsTheClassifiedOpen(t *testing.T) {
	e := newTrackEnv(t, 5, time.Hour)
	cases := []struct {
		ua, xff, want string
	}{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "", runs.ClassHuman},
		{"Mozilla/5.0", "17.58.1.2", runs.ClassAppleMPP},
		{"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "66.249.84.1", runs.ClassProxy},
		{"python-requests/2.31.0", "", runs.ClassScanner},
		{"", "", runs.ClassScanner},
	}
	for i, c := range cases {
		resp := e.get(t, e.openURL(i)+"?x=1", "User-Agent", c.ua, "X-Forwarded-For", c.xff)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("open %d: status %d", i, resp.StatusCode)
		}
		if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "image/gif" || cc != "no-store" {
			t.Errorf("open %d: Content-Type %q, Cache-Control %q", i, ct, cc)
		}
		body, _ := io.ReadAll(resp.Body)
		if len(body) != 43 {
			t.Errorf("open %d: %d bytes, want 43", i, len(body))
		}
		img, err := gif.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("open %d: not a GIF: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
			t.Errorf("open %d: %v, want 1×1", i, b)
		}
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("open %d: pixel not transparent", i)
		}
	}
	rows := e.events(t)
	if len(rows) != len(cases) {
		t.Fatalf("%d events recorded, want %d: %+v", len(rows), len(cases), rows)
	}
	for i, c := range cases {
		r := rows[i]
		if r.DeliveryID != e.ids[i] || r.Kind != "open" || r.Classification != c.want || r.UserAgent != c.ua {
			t.Errorf("open %d recorded as %+v, want delivery %d, open, %s, UA %q", i, r, e.ids[i], c.want, c.ua)
		}
		wantIP := c.xff
		if wantIP == "" {
			wantIP = "127.0.0.1"
		}
		if r.IP != wantIP {
			t.Errorf("open %d: IP %q, want %q", i, r.IP, wantIP)
		}
	}
}

func TestOpenWithAnInvalidTokenGetsTheGIFAndRecordsNothing(t *testing.T) {
	e := newTrackEnv(t, 1, time.Hour)
	good := e.signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: e.ids[0]})
	bad := []string{
		"nonsense",
		good[:len(good)-1] + flipChar(good[len(good)-1]),
		e.clickToken(0, 0, "https://example.jp/"), // another purpose
		token.New([]byte("another-secret-0123456789abcdef-xx")).Sign(token.Claims{Purpose: token.Open, DeliveryID: e.ids[0]}),
		e.signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: e.ids[0] + 1000}), // no such delivery
	}
	for _, tok := range bad {
		resp := e.get(t, e.base+"/o/"+tok)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || len(body) != 43 {
			t.Errorf("/o/%s: status %d, %d bytes; want the GIF", tok, resp.StatusCode, len(body))
		}
	}
	if rows := e.events(t); len(rows) != 0 {
		t.Errorf("invalid tokens recorded %+v", rows)
	}
}

// flipChar returns another base64url character than c.
func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestClickRedirectsOnlyToTheTokensURLAndRecordsIt(t *testing.T) {
	e := newTrackEnv(t, 1, time.Hour)
	target := "https://alumni.example.jp/events/2026?utm_source=kizuna&x=a%20b"
	tok := e.clickToken(0, 3, target)
	resp := e.get(t, e.base+"/c/"+tok+"?url=https://evil.example/&next=https://evil.example/")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != target {
		t.Errorf("Location %q, want %q", loc, target)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	rows := e.events(t)
	if len(rows) != 1 {
		t.Fatalf("events %+v, want one click", rows)
	}
	r := rows[0]
	if r.Kind != "click" || r.Classification != runs.ClassHuman || r.Target != target || r.Detail != `{"link": 3}` {
		t.Errorf("click recorded as %+v", r)
	}
}

func TestClickWithAForgedOrAlteredTokenIsA404WithoutRedirect(t *testing.T) {
	e := newTrackEnv(t, 1, time.Hour)
	good := e.clickToken(0, 0, "https://alumni.example.jp/")
	bad := []string{
		"x",
		e.signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: e.ids[0]}),
		token.New([]byte("another-secret-0123456789abcdef-xx")).Sign(token.Claims{Purpose: token.Click, DeliveryID: e.ids[0], URL: "https://evil.example/"}),
		e.signer.Sign(token.Claims{Purpose: token.Click, DeliveryID: e.ids[0], URL: "javascript:alert(1)"}),
	}
	// Altered tokens: every position changed in turn (a few dozen).
	for i := 0; i < len(good); i += max(1, len(good)/40) {
		bad = append(bad, good[:i]+flipChar(good[i])+good[i+1:])
	}
	bad = append(bad, good+"A", good[:len(good)-1])
	for _, tok := range bad {
		if tok == good {
			continue
		}
		resp := e.get(t, e.base+"/c/"+tok+"?url=https://evil.example/")
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
			t.Errorf("/c/%s: status %d, Location %q; want 404 without redirect", tok, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if rows := e.events(t); len(rows) != 0 {
		t.Errorf("forged tokens recorded %+v", rows)
	}
}

func TestClickSecondsAfterDeliveryIsAScanners(t *testing.T) {
	e := newTrackEnv(t, 2, 3*time.Second) // sent 3 s before the server's "now"
	e.get(t, e.base+"/c/"+e.clickToken(0, 0, "https://alumni.example.jp/a"))
	e.advance(runs.ScannerClickDelay)
	e.get(t, e.base+"/c/"+e.clickToken(1, 0, "https://alumni.example.jp/a"))
	rows := e.events(t)
	if len(rows) != 2 {
		t.Fatalf("events %+v", rows)
	}
	if rows[0].Classification != runs.ClassScanner || rows[0].Detail != `{"flag": "soon_after_delivery", "link": 0}` {
		t.Errorf("click 3 s after delivery recorded as %+v, want a scanner's", rows[0])
	}
	if rows[1].Classification != runs.ClassHuman {
		t.Errorf("click 13 s after delivery recorded as %+v, want a human's", rows[1])
	}
}

func TestClicksOfSeveralLinksAtOnceAreAllAScanners(t *testing.T) {
	e := newTrackEnv(t, 2, time.Hour)
	// Delivery 0: links 0, 1 and 2 within a second (separate commits).
	for link := range 3 {
		e.get(t, e.base+"/c/"+e.clickToken(0, link, fmt.Sprintf("https://alumni.example.jp/%d", link)))
		e.advance(400 * time.Millisecond)
	}
	// Delivery 1: the same link twice at once, then another link a minute later.
	e.get(t, e.base+"/c/"+e.clickToken(1, 0, "https://alumni.example.jp/0"))
	e.get(t, e.base+"/c/"+e.clickToken(1, 0, "https://alumni.example.jp/0"))
	e.advance(time.Minute)
	e.get(t, e.base+"/c/"+e.clickToken(1, 1, "https://alumni.example.jp/1"))
	rows := e.events(t)
	if len(rows) != 6 {
		t.Fatalf("events %+v", rows)
	}
	for i, r := range rows {
		want := runs.ClassHuman
		if r.DeliveryID == e.ids[0] {
			want = runs.ClassScanner
		}
		if r.Classification != want {
			t.Errorf("click %d (%+v): %s, want %s", i, r, r.Classification, want)
		}
	}
}

func TestClicksOfSeveralLinksInOneBatchAreAllAScanners(t *testing.T) {
	e := newTrackEnv(t, 1, time.Hour)
	at := time.Now()
	err := runs.RecordEvents(context.Background(), e.db.DB, []runs.Event{
		{DeliveryID: e.ids[0], Kind: runs.EventClick, Classification: runs.ClassHuman, Link: 0, URL: "https://a.example/", At: at},
		{DeliveryID: e.ids[0], Kind: runs.EventClick, Classification: runs.ClassHuman, Link: 1, URL: "https://b.example/", At: at.Add(time.Second)},
		{DeliveryID: e.ids[0] + 99, Kind: runs.EventClick, Classification: runs.ClassHuman, URL: "https://c.example/", At: at},
		{DeliveryID: e.ids[0], Kind: runs.EventOpen, Classification: runs.ClassHuman, IP: "not an ip", UserAgent: "bad\x00\xff", At: at},
	})
	if err != nil {
		t.Fatalf("RecordEvents: %v", err)
	}
	rows := e.events(t)
	if len(rows) != 3 {
		t.Fatalf("events %+v, want 3 (the unknown delivery's dropped)", rows)
	}
	for _, r := range rows {
		switch {
		case r.Kind == "click" && r.Classification != runs.ClassScanner:
			t.Errorf("%+v: want a scanner's", r)
		case r.Kind == "open" && (r.IP != "" || r.UserAgent != "bad\uFFFD"):
			t.Errorf("open recorded as %+v", r)
		}
	}
}

func TestStatusCountsHumanOpensAndClicksApartFromMachines(t *testing.T) {
	e := newTrackEnv(t, 5, time.Hour)
	human := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	e.get(t, e.openURL(0), "User-Agent", human)                                                   // 0: human open
	e.get(t, e.openURL(0), "User-Agent", "Mozilla/5.0")                                           //    and Apple's prefetch
	e.get(t, e.openURL(1), "User-Agent", "Mozilla/5.0")                                           // 1: Apple's prefetch only
	e.get(t, e.base+"/c/"+e.clickToken(2, 0, "https://a.example/"), "User-Agent", human)          // 2: a click, no pixel
	e.get(t, e.base+"/c/"+e.clickToken(3, 0, "https://a.example/"), "User-Agent", "Mimecast/1.0") // 3: scanner only
	e.get(t, e.base+"/c/"+e.clickToken(3, 0, "https://a.example/"), "User-Agent", "Mimecast/1.0")
	st, err := runs.Status(context.Background(), e.db.DB, "news")
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %+v", err, st)
	}
	s := st[0]
	if s.Opened != 2 || s.Clicked != 1 || s.MachineOpens != 2 || s.ScannerClicks != 1 {
		t.Errorf("opened %d clicked %d machine_opens %d scanner_clicks %d; want 2 1 2 1",
			s.Opened, s.Clicked, s.MachineOpens, s.ScannerClicks)
	}
}

// TestShutdownLosesNoEvent fires concurrent opens and clicks, cancels the
// server's context while they are under way, and checks that every request
// answered 200 or 302 has its event in Postgres.
func TestShutdownLosesNoEvent(t *testing.T) {
	const n = 400
	e := newTrackEnv(t, n, time.Hour)
	// A slower database: events queue up behind each commit.
	flush := e.srv.rec.flush
	e.srv.rec.flush = func(ctx context.Context, ev []runs.Event) error {
		time.Sleep(20 * time.Millisecond)
		return flush(ctx, ev)
	}
	var answered sync.Map // delivery id -> kind
	var started atomic.Int32
	half := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				url, kind, want := e.openURL(i), "open", http.StatusOK
				if i%2 == 1 {
					url, kind, want = e.base+"/c/"+e.clickToken(i, 0, "https://a.example/"), "click", http.StatusFound
				}
				if started.Add(1) == n/2 {
					close(half)
				}
				resp, err := e.client.Get(url)
				if err != nil {
					continue // refused after the shutdown began: not answered
				}
				resp.Body.Close()
				if resp.StatusCode == want {
					answered.Store(e.ids[i], kind)
				}
			}
		}()
	}
	<-half
	e.shutdown(t)
	wg.Wait()
	recorded := map[int64]string{}
	for _, r := range e.events(t) {
		recorded[r.DeliveryID] = r.Kind
	}
	count := 0
	answered.Range(func(k, v any) bool {
		count++
		if recorded[k.(int64)] != v.(string) {
			t.Errorf("delivery %d: answered, but its %s is not recorded", k, v)
		}
		return true
	})
	if count == 0 {
		t.Fatal("no request was answered")
	}
	t.Logf("%d requests answered before the shutdown, %d events recorded", count, len(recorded))
}
