package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/scheduler"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

func (a *App) schedulerCommand() *cobra.Command {
	var redisWait time.Duration
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Watch the campaigns folder and start runs when they are due",
		Long: `Load the campaigns folder (--campaigns or KIZUNA_CAMPAIGNS), reload it when
its files change, and start a run for each due occurrence: a one-off at, a
recurring cron in its time zone, and the reminders of an event. Runs are
unique per campaign and occurrence, so several schedulers may run at once.
A one-off whose at is already past when it is first seen is reported, not
sent: kizuna campaign start sends it. Stops on SIGTERM or Ctrl-C. With
KIZUNA_METRICS_LISTEN set, it serves /metrics and /healthz there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, err := a.campaignsDir()
			if err != nil {
				return err
			}
			db, err := a.DB(ctx)
			if err != nil {
				return err
			}
			enqueue, err := a.taskEnqueuer()
			if err != nil {
				return err
			}
			if err := a.waitSchedulerRedis(ctx, redisWait); err != nil {
				return err
			}
			s, err := a.newScheduler(db, dir, enqueue)
			if err != nil {
				return err
			}
			a.watchQueue(db)
			return a.withMetricsListener(ctx, db, s.Run)
		},
	}
	registerRedisWait(cmd, &redisWait)
	return cmd
}

// waitSchedulerRedis waits at start-up for the Redis the scheduler hands
// new deliveries to (see waitRedis).
func (a *App) waitSchedulerRedis(ctx context.Context, maxWait time.Duration) error {
	_, mon, err := a.redis()
	if err != nil {
		return err
	}
	return a.waitRedis(ctx, mon, maxWait)
}

// taskEnqueuer hands new deliveries to send tasks, through the process's
// Redis client, as a run is expanded (without it, the workers' reconciler
// would find them a little later).
func (a *App) taskEnqueuer() (runs.Enqueue, error) {
	rdb, _, err := a.redis()
	if err != nil {
		return nil, err
	}
	return runs.EnqueueTasks(tasks.NewEnqueuer(asynq.NewClientFromRedisClient(rdb))), nil
}

// campaignsDir is the campaigns folder of scheduler and run: required,
// and an existing directory.
func (a *App) campaignsDir() (string, error) {
	dir := a.cfg.Campaigns
	if dir == "" {
		return "", usageErr("no campaigns folder: pass --campaigns DIR or set KIZUNA_CAMPAIGNS")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", invalidInput(fmt.Errorf("campaigns folder: %w", err))
	}
	if !fi.IsDir() {
		return "", usageErr("campaigns folder %s is not a directory", dir)
	}
	return dir, nil
}

// newScheduler wires the scheduler to the campaigns loader and the runs
// package; enqueue (may be nil) hands new deliveries to send tasks.
func (a *App) newScheduler(db *sqlx.DB, dir string, enqueue runs.Enqueue) (*scheduler.Scheduler, error) {
	return scheduler.New(scheduler.Options{
		Dir:      dir,
		DB:       db,
		Log:      a.log.With("component", "scheduler"),
		Load:     scheduler.LoadFolder,
		Start:    scheduler.RunStarter(db, enqueue),
		Register: scheduler.RegisterWith(db),
		Announce: scheduler.AnnounceWith(db, enqueue, a.log.With("component", "scheduler").Info),
	})
}
