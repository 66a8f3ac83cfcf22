package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/campaigns"

	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// benchConns is the worker concurrency and the bare loops' connection
// count (GUIDE.md targets: 10 connections).
const benchConns = 10

// referenceSize is the size of the reference loop's message: issue 13
// compares Kizuna with a bare go-mail loop sending 6.5 KB messages, about
// what listmonk's newsletter weighs on the wire (6.7 KB).
const referenceSize = 6500

// benchInbound is the reply and bounce address of the benchmark's worker:
// the realistic configuration, where every message carries a VERP
// return path and a signed Reply-To.
const benchInbound = "reply@alumni.example.co.jp"

// BenchmarkCampaignStartToLastMessage measures what GUIDE.md's targets
// and issue 13 name: from `campaign start` (register, create the run,
// expand the audience and enqueue) to the last message accepted by a
// loopback SMTP server that discards, and to every delivery durably
// recorded, with a `kizuna worker` process (10 goroutines) already
// running; expansion is included and sending overlaps it. The message is
// the example newsletter examples/campaigns/2027-q1-newsletter.yaml (its
// send window and throttles lifted). In the same run it measures the ceilings, each over
// the same number of connections to the same server: a bare go-mail Client
// loop sending a 6.5 KB message (issue 13's reference), the same loop with
// Kizuna's own message (GUIDE.md's), and the mailer's pipelined SendLoop.
// It reports the CPU time per message of the worker process, of the
// Postgres backends serving the benchmark's database, and of Redis.
//
// KIZUNA_BENCH_PROFILE=DIR writes the worker's CPU profile of each run to
// DIR/worker-N.pprof (go tool pprof).
func BenchmarkCampaignStartToLastMessage(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchRun(b, n)
			}
		})
	}
}

// exampleNewsletter is the quarterly example newsletter, sendable at any
// hour and unthrottled (the example folder's kizuna.yaml limits a run to
// 600 a minute and the relay account to 2,000 a day).
func exampleNewsletter(b *testing.B) *campaigns.Campaign {
	c, probs := campaigns.LoadFile("../examples/campaigns/2027-q1-newsletter.yaml")
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	c.Schedule.Window = nil
	c.Throttle = campaigns.Throttle{}
	return c
}

// referenceMessage is a newsletter-like message of exactly size bytes: a
// plain-text and an HTML part, quoted-printable, as a typical list
// manager sends them.
func referenceMessage(size int) []byte {
	head := "From: Example <news@example.co.jp>\r\nTo: <r1@example.jp>\r\nSubject: Alumni news, winter 2027\r\n" +
		"Date: Wed, 13 Jan 2027 10:10:00 +0900\r\nMessage-ID: <reference.1@example.co.jp>\r\n" +
		"List-Unsubscribe: <https://alumni.example.co.jp/u/AQOSIRQbNAlIRb4NO3YcqIF9Blw>\r\n" +
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		strings.Repeat("It has been a while. Here is what happened at the company this quarter.\r\n", 12) +
		"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	tail := "\r\n--b1--\r\n"
	line := "<p style=3D\"margin:0 0 16px;color:#51545E\">It has been a while. Here is the news.</p>\r\n"
	body := strings.Repeat(line, (size-len(head)-len(tail))/len(line)+1)
	body = body[:size-len(head)-len(tail)-2] + "\r\n"
	return []byte(head + body + tail)
}

// cpuTicks is the CPU time (user + system) a process has used, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 10 ms).
func cpuTicks(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// backendCPU is the CPU time used so far by each Postgres backend
// connected to db's database, by pid.
func backendCPU(b *testing.B, db *testdb.DB) map[int]time.Duration {
	var pids []int
	if err := db.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, p := range pids {
		out[p] = cpuTicks(p)
	}
	return out
}

// redisCPU is the CPU time Redis has used (INFO cpu).
func redisCPU(b *testing.B, url string) time.Duration {
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, l := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(l, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

var benchRuns int

func benchRun(b *testing.B, n int) {
	benchRuns++
	db := testdb.New(b)
	rd := testredis.New(b)
	seedAlumni(b, db, n)
	db.MustExec(`VACUUM ANALYZE alumni`)
	// Write out what earlier runs and the seeding left dirty, so that a
	// checkpoint of theirs does not land inside this run's measurement.
	db.MustExec(`CHECKPOINT`)
	srv, err := smtptest.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv.Discard = true
	defer srv.Close()
	c := exampleNewsletter(b)

	// The ceilings, over the same number of kept connections.
	deps, err := worker.NewDeps(worker.Setup{SMTPURL: srv.URL(), BaseURL: "https://alumni.example.co.jp",
		InboundAddress: benchInbound, Secret: []byte(testSecret)})
	if err != nil {
		b.Fatal(err)
	}
	r, err := deps.Prepare(c, runs.Run{ID: 1}, "")
	if err != nil {
		b.Fatal(err)
	}
	msg, err := r.Render(render.Recipient{DeliveryID: 1, Email: "r1@example.jp", FamilyName: "山田", GivenName: "太郎", Department: "開発部", Locale: "ja", TimeZone: "Asia/Tokyo"})
	if err != nil {
		b.Fatal(err)
	}
	relay, err := mailer.ParseRelay(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ref := mailer.Envelope{From: "bounce@example.co.jp", To: "r1@example.jp", Data: referenceMessage(referenceSize)}
	refTook, err := mailer.GoMailClientLoop(ctx, relay, benchConns, n, ref)
	if err != nil {
		b.Fatal(err)
	}
	refRate := float64(n) / refTook.Seconds()
	own := mailer.Envelope{From: msg.EnvelopeFrom, To: msg.To, Data: msg.Data}
	ownTook, err := mailer.GoMailClientLoop(ctx, relay, benchConns, n, own)
	if err != nil {
		b.Fatal(err)
	}
	ownRate := float64(n) / ownTook.Seconds()
	bare, err := mailer.SendLoop(ctx, relay, benchConns, n, own)
	if err != nil {
		b.Fatal(err)
	}
	bareRate := float64(n) / bare.Seconds()
	base := srv.Accepted()

	// A worker process, idle and ready, as in production.
	workerConns := benchConns
	if v, err := strconv.Atoi(os.Getenv("KIZUNA_BENCH_WORKER_CONCURRENCY")); err == nil && v > 0 {
		workerConns = v
	}
	vars := map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_REDIS_URL": rd.URL, "KIZUNA_SMTP_URL": srv.URL(),
		"KIZUNA_SECRET": testSecret, "KIZUNA_BASE_URL": "https://alumni.example.co.jp", "KIZUNA_INBOUND_ADDRESS": benchInbound}
	if dir := os.Getenv("KIZUNA_BENCH_PROFILE"); dir != "" {
		vars["KIZUNA_CPU_PROFILE"] = filepath.Join(dir, fmt.Sprintf("worker-%d.pprof", benchRuns))
	}
	w := testbin.Start(b, testbin.Options{Name: "worker", Kill: true, Args: []string{"worker", "--concurrency", strconv.Itoa(workerConns)}, Vars: vars})
	defer w.Kill9()
	w.WaitOutput(b, "worker started", 20*time.Second)
	time.Sleep(300 * time.Millisecond) // its first reconcile pass is over

	opt, _ := asynq.ParseRedisURI(rd.URL)
	client := asynq.NewClient(opt)
	defer client.Close()

	var commitsBefore int64
	db.Get(&commitsBefore, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)
	pgBefore, redisBefore := backendCPU(b, db), redisCPU(b, rd.URL)
	workerBefore, selfBefore := cpuTicks(w.Cmd.Process.Pid), cpuTicks(os.Getpid())
	start := time.Now()
	v, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		b.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, v, "manual:bench", runs.KindSend)
	if err != nil {
		b.Fatal(err)
	}
	total, err := runs.ExpandEach(ctx, db.DB, run.ID, runs.EnqueueTasks(tasks.NewEnqueuer(client)))
	if err != nil {
		b.Fatal(err)
	}
	expanded := time.Since(start)
	if total != int64(n) {
		b.Fatalf("expanded %d deliveries, want %d", total, n)
	}
	for srv.Accepted()-base < n {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d accepted after 5 minutes:\n%s", srv.Accepted()-base, n, testbin.Tail(w.Output(), 2000))
		}
		time.Sleep(2 * time.Millisecond)
	}
	last := time.Since(start)
	for {
		// Through the partial index of open deliveries: the probe must
		// not weigh on the Postgres time it measures.
		var open int
		db.Get(&open, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state IN ('pending', 'sending')`, run.ID)
		if open == 0 {
			break
		}
		if time.Since(start) > 6*time.Minute {
			b.Fatalf("%d deliveries unrecorded", open)
		}
		time.Sleep(5 * time.Millisecond)
	}
	recorded := time.Since(start)
	workerCPU, selfCPU := cpuTicks(w.Cmd.Process.Pid)-workerBefore, cpuTicks(os.Getpid())-selfBefore
	var pgCPU time.Duration
	for pid, t := range backendCPU(b, db) {
		pgCPU += t - pgBefore[pid]
	}
	redisUsed := redisCPU(b, rd.URL) - redisBefore
	var commits int64
	db.Get(&commits, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)
	commits -= commitsBefore
	workerHWM := vmHWM(fmt.Sprintf("/proc/%d/status", w.Cmd.Process.Pid))
	if got := srv.Accepted() - base; got != n {
		b.Errorf("relay accepted %d messages for %d recipients", got, n)
	}
	var sentCount int
	db.Get(&sentCount, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'sent'`, run.ID)
	if sentCount != n {
		b.Errorf("%d deliveries recorded as sent, want %d", sentCount, n)
	}
	w.Terminate(b, 30*time.Second) // flushes the CPU profile

	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	rate := float64(n) / recorded.Seconds()
	b.ReportMetric(recorded.Seconds(), "s_start_to_recorded")
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(last.Seconds(), "s_start_to_last")
	b.ReportMetric(expanded.Seconds(), "s_expand+enqueue")
	b.ReportMetric(workerHWM, "MiB_worker_peak_RSS")
	b.ReportMetric(refRate, "ref_msg/s")
	b.ReportMetric(100*rate/refRate, "%_of_ref")
	b.ReportMetric(perMsg(workerCPU), "µs_worker_cpu/msg")
	b.ReportMetric(perMsg(pgCPU), "µs_pg_cpu/msg")
	b.ReportMetric(perMsg(redisUsed), "µs_redis_cpu/msg")
	b.Logf("\n%s, %d CPUs, %s\n"+
		"  recipients                          %d (example newsletter, %d bytes on the wire; %d connections)\n"+
		"  start → last message accepted       %.2f s  (%.0f msg/s)\n"+
		"  start → every delivery recorded     %.2f s  (%.0f msg/s)   target: %s\n"+
		"  expansion + enqueue                 %.2f s   target: 100k ≤ 3 s\n"+
		"  worker process peak RSS (VmHWM)     %.1f MiB   target: ≤ 64 MiB\n"+
		"  CPU per message: worker %.1f µs, Postgres backends %.1f µs, Redis %.1f µs, this process (SMTP sink, expansion) %.1f µs\n"+
		"  Postgres transactions: %d (%.1f messages each)\n"+
		"  ceilings, same run, same sink and connection count:\n"+
		"    go-mail Client loop, 6.5 KB message (issue 13)   %.0f msg/s   Kizuna / it: %.2f   target: ≥ 1\n"+
		"    go-mail Client loop, Kizuna's message (GUIDE.md)  %.0f msg/s   Kizuna / it: %.2f\n"+
		"    Kizuna's pipelined SendLoop, Kizuna's message     %.0f msg/s   Kizuna / it: %.2f\n"+
		"  reference: listmonk 6.2 100k in 17.9–19.3 s (5,200–5,600 msg/s), 10k in 6.0 s",
		cpuModel(), runtime.NumCPU(), runtime.Version(), n, len(msg.Data), benchConns,
		last.Seconds(), float64(n)/last.Seconds(), recorded.Seconds(), rate,
		map[bool]string{true: "100k ≤ 15 s", false: "10k ≤ 2 s"}[n >= 100_000],
		expanded.Seconds(), workerHWM, perMsg(workerCPU), perMsg(pgCPU), perMsg(redisUsed), perMsg(selfCPU),
		commits, float64(n)/float64(max(commits, 1)),
		refRate, rate/refRate, ownRate, rate/ownRate, bareRate, rate/bareRate)
}

// vmHWM reads a process's peak resident set size in MiB.
func vmHWM(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
