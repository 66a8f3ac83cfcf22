// Package worker is Kizuna's delivery engine: the Asynq handlers that
// claim, send and record deliveries, and the reconciler that finds work
// Redis lost. Postgres is the truth: a delivery is claimed with one
// conditional UPDATE under a lease, re-checked against the suppression
// list, sent, and its SMTP reply recorded moments after the relay accepts
// it, so the only duplicate window left is "accepted, then the process
// died before the record" — a few milliseconds per goroutine.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/redisconn"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// Defaults of Options.
const (
	DefaultConcurrency    = 10
	DefaultLease          = 60 * time.Second
	DefaultMaxAttempts    = 8
	DefaultReconcileEvery = 2 * time.Second
	// ShutdownTimeout bounds a graceful stop: in-flight sends finish or
	// are released well before a 30 s SIGKILL.
	ShutdownTimeout = 20 * time.Second
)

// Options configure a Worker.
type Options struct {
	DB *sqlx.DB
	// Redis is the process's one Redis client: Asynq's server and client,
	// the throttles and the monitor share it. The caller closes it after
	// Run returns.
	Redis redis.UniversalClient
	Log   *slog.Logger
	Deps  Deps
	// Concurrency is the number of send goroutines (and relay connections).
	Concurrency int
	// Lease is how long a claimed delivery stays this worker's before
	// another may take it over; it is extended while a chunk is sent.
	Lease time.Duration
	// MaxAttempts bounds temporary failures of one delivery.
	MaxAttempts int
	// ReconcileEvery is the reconciler's period.
	ReconcileEvery time.Duration
	// RelayRetryBase and RelayRetryMax bound the wait between tries of a
	// relay that does not answer (default 5 s doubling up to 5 min).
	RelayRetryBase, RelayRetryMax time.Duration
	// RelayAlertAfter is how long the relay may be unreachable before an
	// ALERT is logged (default 15 min; KIZUNA_RELAY_ALERT_AFTER).
	RelayAlertAfter time.Duration
	// BreakerFailures and BreakerDomains trip the sender circuit breaker:
	// that many deliveries in a row failing with the same permanent reply
	// across at least that many recipient domains pause the run (defaults
	// 10 and 3; a negative BreakerFailures disables it).
	BreakerFailures, BreakerDomains int
	// Monitor watches Redis while the worker runs and keeps Asynq's lines
	// about a Redis that does not answer to one a minute. Default: a
	// monitor of Redis that names no address.
	Monitor *redisconn.Monitor
	// Metrics counts sent, failed, retried and bounced messages and the
	// SMTP transaction time (kizuna_* on /metrics); nil counts nothing.
	Metrics *metrics.Metrics
}

// Worker processes send tasks and reconciles deliveries with Redis.
type Worker struct {
	opt     Options
	log     *slog.Logger
	db      *sqlx.DB
	rdb     redis.UniversalClient
	enq     *tasks.Enqueuer
	rec     *recorder
	stmts   *runs.SendStatements // the claim and record statements, prepared
	senders chan mailer.Sender
	cache   *prepCache
	gate    *relayGate
	breaker *senderBreaker
	// failLog bounds the log lines about failed deliveries; holdLog
	// those about runs held by a quota or a send window.
	failLog *logBudget
	holdLog *onceEvery
	// done paces the checks whether a run is done after a chunk.
	done *donePacer
	mon  *redisconn.Monitor

	stopping chan struct{} // closed when the worker stops claiming
	stopOnce sync.Once
}

// New builds a worker; Run starts it.
func New(opt Options) (*Worker, error) {
	if opt.DB == nil || opt.Redis == nil {
		return nil, errors.New("worker: database and Redis are required")
	}
	if opt.Deps.Relay.Scheme == "" || opt.Deps.Prepare == nil {
		return nil, errors.New("worker: a relay and a renderer are required")
	}
	opt.Log = cmp.Or(opt.Log, slog.Default())
	opt.Concurrency = cmp.Or(opt.Concurrency, DefaultConcurrency)
	opt.Lease = cmp.Or(opt.Lease, DefaultLease)
	opt.MaxAttempts = cmp.Or(opt.MaxAttempts, DefaultMaxAttempts)
	opt.ReconcileEvery = cmp.Or(opt.ReconcileEvery, DefaultReconcileEvery)
	opt.RelayRetryBase = cmp.Or(opt.RelayRetryBase, DefaultRelayRetryBase)
	opt.RelayRetryMax = cmp.Or(opt.RelayRetryMax, max(DefaultRelayRetryMax, opt.RelayRetryBase))
	opt.RelayAlertAfter = cmp.Or(opt.RelayAlertAfter, DefaultRelayAlertAfter)
	opt.BreakerFailures = cmp.Or(opt.BreakerFailures, DefaultBreakerFailures)
	opt.BreakerDomains = cmp.Or(opt.BreakerDomains, DefaultBreakerDomains)
	rdb := opt.Redis
	if opt.Monitor == nil {
		opt.Monitor = redisconn.New(rdb, "", opt.Log)
	}
	w := &Worker{
		opt:      opt,
		log:      opt.Log,
		mon:      opt.Monitor,
		db:       opt.DB,
		rdb:      rdb,
		enq:      tasks.NewEnqueuer(asynq.NewClientFromRedisClient(rdb)),
		senders:  make(chan mailer.Sender, opt.Concurrency),
		cache:    newPrepCache(16),
		gate:     newRelayGate(opt.RelayRetryBase, opt.RelayRetryMax, opt.RelayAlertAfter),
		breaker:  newSenderBreaker(opt.BreakerFailures, opt.BreakerDomains),
		failLog:  newLogBudget(20, time.Minute),
		holdLog:  newOnceEvery(time.Minute),
		done:     newDonePacer(doneCheckEvery),
		stopping: make(chan struct{}),
	}
	w.stmts = runs.NewSendStatements(opt.DB)
	w.rec = newRecorder(opt.DB, w.stmts, opt.Log)
	return w, nil
}

// Enqueuer returns the worker's task enqueuer (for `kizuna run`, which
// starts runs in the same process).
func (w *Worker) Enqueuer() *tasks.Enqueuer { return w.enq }

// Run processes tasks until ctx is cancelled, then shuts down gracefully:
// it stops claiming, lets in-flight sends finish and be recorded, releases
// the rest, and returns within ShutdownTimeout.
func (w *Worker) Run(ctx context.Context) error {
	w.warnEviction(ctx)
	// Two task servers: bulk sends, and the urgent queue with goroutines
	// of its own, so that a confirmation or a reminder never waits for a
	// bulk chunk to finish.
	srv := w.taskServer(tasks.QueueSend, w.opt.Concurrency)
	urgent := w.taskServer(tasks.QueueUrgent, UrgentConcurrency)
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeSend, w.handleSend)

	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	recDone := make(chan struct{})
	go func() { w.rec.Loop(recCtx); close(recDone) }()

	if err := srv.Start(mux); err != nil {
		stopRec()
		<-recDone
		return fmt.Errorf("worker: start: %w", err)
	}
	if err := urgent.Start(mux); err != nil {
		srv.Shutdown()
		stopRec()
		<-recDone
		return fmt.Errorf("worker: start: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.opt.Concurrency, "urgent_concurrency", UrgentConcurrency, "lease", w.opt.Lease.String())

	monCtx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	go w.mon.Watch(monCtx)

	recoCtx, stopReco := context.WithCancel(ctx)
	recoDone := make(chan struct{})
	go func() { w.reconcileLoop(recoCtx); close(recoDone) }()

	<-ctx.Done()
	w.log.Info("worker stopping: no new claims; finishing in-flight sends")
	w.stopOnce.Do(func() { close(w.stopping) })
	stopReco()
	// Each waits for its handlers, which release what they have not sent.
	var down sync.WaitGroup
	for _, t := range []*asynq.Server{srv, urgent} {
		down.Add(1)
		go func() { defer down.Done(); t.Shutdown() }()
	}
	down.Wait()
	<-recoDone
	stopRec() // the recorder drains what the handlers queued before it returns
	<-recDone
	for drained := false; !drained; {
		select {
		case s := <-w.senders:
			s.Close()
		default:
			drained = true
		}
	}
	w.stmts.Close()
	w.log.Info("worker stopped")
	return nil
}

// UrgentConcurrency is how many goroutines of a worker serve the urgent
// queue (tasks.QueueUrgent: RSVP confirmations and notices, reminders,
// event updates and cancellations), beside Options.Concurrency for bulk
// sends.
const UrgentConcurrency = 2

// taskServer is an Asynq server for one queue.
func (w *Worker) taskServer(queue string, concurrency int) *asynq.Server {
	return asynq.NewServerFromRedisClient(w.rdb, asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{queue: 1},
		ShutdownTimeout: ShutdownTimeout,
		Logger:          asynqLogger{w.mon},
		LogLevel:        asynq.WarnLevel,
		// Deliveries carry their own retries; a task is retried only when
		// its handler could not reach Postgres.
		RetryDelayFunc: func(n int, _ error, _ *asynq.Task) time.Duration {
			return time.Duration(1<<min(n, 5)) * time.Second
		},
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
	})
}

// warnEviction warns when Redis may evict keys: an evicted task or lease
// orphans work (the reconciler recovers it, but late).
func (w *Worker) warnEviction(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := w.rdb.ConfigGet(cctx, "maxmemory-policy").Result()
	if err != nil {
		w.log.Debug("cannot read Redis maxmemory-policy", "err", err)
		return
	}
	if p, ok := res["maxmemory-policy"]; ok && p != "noeviction" {
		w.log.Warn("Redis maxmemory-policy is not noeviction: Redis may drop queued tasks under memory pressure; set maxmemory-policy noeviction", "policy", p)
	}
}

// sender takes a relay connection for one handler goroutine.
func (w *Worker) sender() mailer.Sender {
	select {
	case s := <-w.senders:
		return s
	default:
		return mailer.NewSender(w.opt.Deps.Relay)
	}
}

// putSender returns a connection for the next handler.
func (w *Worker) putSender(s mailer.Sender) {
	select {
	case w.senders <- s:
	default:
		s.Close()
	}
}

// asynqLogger routes Asynq's logs through the Redis monitor: Asynq logs
// every failed Redis command of each of its loops, several a second while
// Redis is away; the monitor says it once instead.
type asynqLogger struct{ m *redisconn.Monitor }

func (a asynqLogger) Debug(args ...any) { a.m.Library(slog.LevelDebug, fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.m.Library(slog.LevelInfo, fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.m.Library(slog.LevelWarn, fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.m.Library(slog.LevelError, fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.m.Library(slog.LevelError, fmt.Sprint(args...)) }
