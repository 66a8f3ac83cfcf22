package mailer

import (
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// Benchmark inputs: the GUIDE.md send-loop reference (10 connections,
// ~6.5 KB messages, a loopback server that discards).
const (
	benchConns    = 10
	benchMessages = 20000
)

// benchBody is a Japanese newsletter body of a realistic size.
var benchBody = strings.Repeat("山田 太郎 様\nご無沙汰しております。年末アルムナイ交流会のご案内です。\n", 20)

// renderedMessage is a pre-rendered multipart message of about 6.5 KB,
// shaped like the renderer's output (base64 text and HTML parts).
func renderedMessage(i int) []byte {
	wrap := func(s string) string {
		enc := base64.StdEncoding.EncodeToString([]byte(s))
		var b strings.Builder
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
		return b.String()
	}
	html := "<html><body><p>" + strings.ReplaceAll(benchBody, "\n", "<br>") + "</p></body></html>"
	return fmt.Appendf(nil, "From: =?UTF-8?B?5qCq5byP5Lya56S+?= <alumni@example.co.jp>\r\n"+
		"To: alum%d@example.jp\r\nSubject: =?UTF-8?B?5bm05pyr44Ki44Or44Og44OK44Kk5Lqk5rWB5Lya?=\r\n"+
		"Date: Tue, 01 Dec 2026 10:10:00 +0900\r\nMessage-ID: <b%d@example.co.jp>\r\n"+
		"List-Unsubscribe: <https://example.co.jp/u/XTOKENX>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s"+
		"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--b1--\r\n",
		i, i, wrap(benchBody), wrap(html))
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchServer(b *testing.B) *smtptest.Server {
	srv, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv.Discard = true
	b.Cleanup(func() { srv.Close() })
	return srv
}

// BenchmarkBareSendLoop sends pre-rendered ~6.5 KB messages from 10
// goroutines, one Sender (one kept connection) each, to a discarding
// loopback server: the ceiling the delivery benchmarks compare against.
func BenchmarkBareSendLoop(b *testing.B) {
	b.Run("pipelined", func(b *testing.B) { benchSendLoop(b) })
	b.Run("one-command-at-a-time", func(b *testing.B) {
		benchSendLoop(b, func(o *options) { o.noPipelining = true })
	})
}

func benchSendLoop(b *testing.B, opts ...Option) {
	srv := benchServer(b)
	relay, err := ParseRelay(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	msg := renderedMessage(1)
	var elapsed, cpu time.Duration
	for b.Loop() {
		cpu0 := cpuTime()
		d, err := SendLoop(context.Background(), relay, benchConns, benchMessages,
			Envelope{From: "bounce@example.co.jp", To: "alum@example.jp", Data: msg}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += d
		cpu += cpuTime() - cpu0
	}
	total := benchMessages * b.N
	if got := srv.Accepted(); got != total {
		b.Fatalf("server accepted %d of %d", got, total)
	}
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msg/s")
	// Client and server share the process: CPU seconds per message show
	// the cost even when other work on the machine slows the wall clock.
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/msg")
	b.ReportMetric(float64(len(msg)), "bytes/msg")
	b.ReportMetric(0, "ns/op")
	b.Logf("bare send loop | cpus %d | conns %d | messages %d | size %d B | %.2f s | %.0f msg/s | %.0f cpu-µs/msg (client+server)",
		runtime.NumCPU(), benchConns, total, len(msg), elapsed.Seconds(), rate, float64(cpu.Microseconds())/float64(total))
}

// BenchmarkGoMailClientLoop is the same job through go-mail's high-level
// Client (DialWithContext once, then Send with NOOP and RSET turned off):
// GUIDE.md's reference loop, which re-encodes the message on every Send.
func BenchmarkGoMailClientLoop(b *testing.B) {
	srv := benchServer(b)
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, benchConns)
		for g := range benchConns {
			wg.Go(func() {
				c, err := gomail.NewClient(srv.Host, gomail.WithPort(srv.Port), gomail.WithTLSPolicy(gomail.NoTLS),
					gomail.WithoutNoop(), gomail.WithoutRset())
				if err != nil {
					errs <- err
					return
				}
				if err := c.DialWithContext(context.Background()); err != nil {
					errs <- err
					return
				}
				defer c.Close()
				for i := g; i < benchMessages; i += benchConns {
					m := gomail.NewMsg()
					_ = m.From("alumni@example.co.jp")
					_ = m.To(fmt.Sprintf("alum%d@example.jp", i))
					m.Subject("年末アルムナイ交流会")
					m.SetBodyString(gomail.TypeTextPlain, benchBody)
					m.AddAlternativeString(gomail.TypeTextHTML, "<html><body><p>"+strings.ReplaceAll(benchBody, "\n", "<br>")+"</p></body></html>")
					if err := c.Send(m); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	total := benchMessages * b.N
	if got := srv.Accepted(); got != total {
		b.Fatalf("server accepted %d of %d", got, total)
	}
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(0, "ns/op")
	b.Logf("go-mail Client loop | cpus %d | conns %d | messages %d | %.2f s | %.0f msg/s",
		runtime.NumCPU(), benchConns, total, elapsed.Seconds(), rate)
}
