package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/redisconn"
)

// redis connects (once) the process's one Redis client, from
// KIZUNA_REDIS_URL, with its monitor: the monitor watches that Redis for a
// long-running command and routes go-redis's own log lines through it
// (go-redis logs through one process-wide logger, redis.SetLogger), naming
// the server host:port (never the password of the URL). Asynq's server and
// client, the throttles and the monitor all share the client; Close closes
// it. A URL that does not parse is invalid configuration (exit 2).
func (a *App) redis() (redis.UniversalClient, *redisconn.Monitor, error) {
	if a.rdb != nil {
		return a.rdb, a.mon, nil
	}
	opt, err := asynq.ParseRedisURI(a.cfg.RedisURL)
	if err != nil {
		return nil, nil, invalidInput(fmt.Errorf("KIZUNA_REDIS_URL: %w", err))
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, invalidInput(fmt.Errorf("KIZUNA_REDIS_URL: unsupported Redis connection"))
	}
	a.rdb = rdb
	a.mon = redisconn.New(rdb, redisAddr(opt, a.cfg.RedisURL), a.log)
	redis.SetLogger(a.mon)
	return a.rdb, a.mon, nil
}

// waitRedis waits at start-up until Redis answers: one line when it does
// not, at most one a minute while waiting, and an error (exit 1) after
// maxWait.
func (a *App) waitRedis(ctx context.Context, m *redisconn.Monitor, maxWait time.Duration) error {
	if maxWait <= 0 {
		return usageErr("--redis-wait must be positive, not %s", maxWait)
	}
	return m.Wait(ctx, maxWait)
}

// redisAddr is the host:port (or, for Sentinel, the master's name) of a
// Redis connection, for messages; it never includes a password.
func redisAddr(opt asynq.RedisConnOpt, rawURL string) string {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return o.Addr
	case *asynq.RedisClientOpt:
		return o.Addr
	case asynq.RedisFailoverClientOpt:
		return "master " + o.MasterName
	case asynq.RedisClusterClientOpt:
		if len(o.Addrs) > 0 {
			return o.Addrs[0]
		}
	}
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		if _, _, err := net.SplitHostPort(u.Host); err == nil {
			return u.Host
		}
	}
	return ""
}
