package main

import (
	"context"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/redisconn"
	"github.com/kizuna-alumni/kizuna/worker"
)

// workerFlags tune `kizuna worker` (and the worker inside `kizuna run`).
type workerFlags struct {
	concurrency int
	lease       time.Duration
	retryBase   time.Duration
	redisWait   time.Duration
}

func (f *workerFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.concurrency, "concurrency", worker.DefaultConcurrency, "send goroutines, each with its own relay connection")
	cmd.Flags().DurationVar(&f.retryBase, "retry-base", mailer.BackoffBase, "wait before the first retry of a temporary failure; later retries back off exponentially with jitter")
	cmd.Flags().DurationVar(&f.lease, "lease", worker.DefaultLease, "how long a claimed delivery stays this worker's before another may take it over")
	registerRedisWait(cmd, &f.redisWait)
}

// registerRedisWait adds --redis-wait to a command that needs Redis to start.
func registerRedisWait(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "redis-wait", redisconn.DefaultStartWait, "at start, how long to wait for Redis to answer before giving up (exit 1); once running, Kizuna waits for Redis indefinitely")
}

func (a *App) workerCommand() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Process send tasks: claim, render, send and record deliveries",
		Long: `Process send tasks from Redis: claim each delivery, check suppression,
the send window and the throttles, render it, send it to the relay
(KIZUNA_SMTP_URL) and record the relay's reply. Any number of workers may
run at once on any number of machines. SIGTERM or Ctrl-C stops claiming,
finishes or releases the messages in flight, and exits within 30 seconds.
With KIZUNA_METRICS_LISTEN set, it serves /metrics and /healthz there.
Its Go heap is kept within a soft limit of 40 MiB (the GOMEMLIMIT
environment variable overrides it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			setWorkerMemoryLimit(a.Getenv)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			w, err := a.newWorker(ctx, f)
			if err != nil {
				return err
			}
			return a.withMetricsListener(ctx, a.db, w.Run)
		},
	}
	f.register(cmd)
	return cmd
}

// workerMemoryLimit is the soft limit of a worker's Go heap: what it holds
// does not grow with the audience (chunks of 400, one message at a time
// per connection; about 5 MiB live while sending), but the collector
// would otherwise let garbage grow to several times that between cycles.
// With the limit the whole process stays under 64 MiB resident
// (`make bench`, 100k recipients).
const workerMemoryLimit = 40 << 20

// setWorkerMemoryLimit applies workerMemoryLimit unless GOMEMLIMIT is set
// (the runtime reads that itself).
func setWorkerMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(workerMemoryLimit)
	}
}

// newWorker builds a worker from the configuration.
func (a *App) newWorker(ctx context.Context, f workerFlags) (*worker.Worker, error) {
	if err := a.cfg.RequireSecret(); err != nil {
		return nil, invalidInput(err)
	}
	if f.concurrency < 1 || f.concurrency > 1000 {
		return nil, usageErr("--concurrency must be between 1 and 1000, not %d", f.concurrency)
	}
	if f.lease < time.Second {
		return nil, usageErr("--lease must be at least 1s, not %s", f.lease)
	}
	rdb, mon, err := a.redis()
	if err != nil {
		return nil, err
	}
	dkim, err := a.dkim()
	if err != nil {
		return nil, err
	}
	if w := plainBaseURLWarning(a.cfg); w != "" {
		a.log.Warn(w)
	}
	deps, err := worker.NewDeps(worker.Setup{
		Redis:   rdb,
		DKIM:    dkim,
		SMTPURL: a.cfg.SMTPURL, BaseURL: a.cfg.BaseURL, InboundAddress: a.cfg.InboundAddress, Secret: a.cfg.Secret(),
		RetryBase: f.retryBase,
	})
	if err != nil {
		return nil, invalidInput(err)
	}
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.waitRedis(ctx, mon, f.redisWait); err != nil {
		return nil, err
	}
	tuneSenderGC(a.Getenv)
	a.watchQueue(db)
	return worker.New(worker.Options{
		DB: db, Redis: rdb, Log: a.log.With("component", "worker"), Deps: deps,
		Concurrency: f.concurrency, Lease: f.lease, Monitor: mon,
		RelayAlertAfter: a.cfg.RelayAlertAfter, Metrics: a.metrics(),
	})
}
