// Package ratelimit enforces sending limits shared by every worker process
// on every machine: per run per minute, per relay account per day and per
// recipient domain per minute (GUIDE.md decision 5). The counters live in
// Redis under "kizuna:rl:" and expire on their own.
//
// The algorithm is an exact sliding-window log: each allowed event is a
// member of a sorted set scored by its time, and an event is allowed when
// fewer than limit events lie in the window (now-per, now]. Unlike a token
// bucket or GCRA with a burst allowance, it never lets more than limit
// through in any window of length per, which is what relay quotas ("2,000
// per rolling 24 hours") and carrier guidance mean. Its cost is one
// sorted-set member per allowed event while it is in the window: about 100
// bytes each, so a 100,000-a-day relay quota holds about 10 MB.
//
// A day is a rolling 24 hours, not a calendar day: a rolling limit is never
// looser than a quota that resets at midnight in any time zone, so the same
// setting is safe for both kinds of relay.
//
// Limits are checked all at once in one Lua script: an event is recorded in
// every window only when every limit allows it, so a delivery held back by
// its domain does not use up its run's budget.
package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Prefix starts every key the limiter writes.
const Prefix = "kizuna:rl:"

// Limit is one limit: at most Count events per Per under Key. A Count of
// zero or less means no limit (the Limit is skipped).
type Limit struct {
	Key   string // e.g. RunKey(42); Prefix is added
	Count int
	Per   time.Duration
}

// Keys of the limits the delivery engine uses.

// RunKey is the key of a run's per-minute limit.
func RunKey(runID int64) string { return "run:" + strconv.FormatInt(runID, 10) }

// RelayKey is the key of a relay account's daily limit (mailer.Relay.Account).
func RelayKey(account string) string { return "relay:" + account }

// DomainKey is the key of a recipient domain's per-minute limit, shared by
// all runs.
func DomainKey(domain string) string { return "domain:" + domain }

// Decision is the answer of AllowAll.
type Decision struct {
	OK bool
	// RetryIn is how long until the most restrictive denying limit has
	// room again (0 when OK). Waiting this long does not guarantee the next
	// call succeeds: other workers may take the room first.
	RetryIn time.Duration
	// Denied is the key of that limit ("" when OK).
	Denied string
	// Reservation is the event recorded when OK; Cancel takes it back.
	Reservation Reservation
}

// Reservation is one event recorded by AllowAll in every window it
// checked. The zero Reservation records nothing.
type Reservation struct {
	keys   []string // full keys, Prefix included
	member string
}

// Limiter checks and records events in Redis. It is safe for concurrent
// use; one Limiter per process is enough.
type Limiter struct {
	rdb redis.UniversalClient
}

// New returns a Limiter on rdb. Every key a multi-limit call touches must
// be on the same Redis node (Redis Cluster is not supported).
func New(rdb redis.UniversalClient) *Limiter { return &Limiter{rdb: rdb} }

// allowScript checks every window and records the event in all of them only
// when all allow it. KEYS are the sorted sets; ARGV[1] is now in
// microseconds (0: use the Redis server's clock, shared by all machines),
// ARGV[2] a unique member, then limit and window (µs) per key. It returns
// {1} when allowed, or {0, wait µs, index of the key that waits longest}.
var allowScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local worst, worstKey = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= limit then
    -- room opens when the (n-limit+1)-th oldest event leaves the window
    local e = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local wait = tonumber(e[2]) + window - now
    if wait < 1 then wait = 1 end
    if wait > worst then worst, worstKey = wait, i end
  end
end
if worstKey > 0 then
  return {0, worst, worstKey}
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.floor(window / 1000) + 1000)
end
return {1}
`)

// Allow records one event under key if fewer than limit happened in the
// last per, and otherwise says how long until one may. A zero now uses the
// Redis server's clock, which every machine shares; pass a time only in
// tests.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (ok bool, retryIn time.Duration, err error) {
	d, err := l.AllowAll(ctx, now, Limit{Key: key, Count: limit, Per: per})
	return d.OK, d.RetryIn, err
}

// AllowAll records one event under every limit if all of them allow it, and
// records nothing otherwise (one atomic script). Limits with Count ≤ 0 are
// ignored; with none left the event is allowed. now is as for Allow.
func (l *Limiter) AllowAll(ctx context.Context, now time.Time, limits ...Limit) (Decision, error) {
	keys := make([]string, 0, len(limits))
	args := make([]any, 2, 2+2*len(limits))
	for _, lim := range limits {
		if lim.Count <= 0 {
			continue
		}
		if lim.Per <= 0 {
			return Decision{}, fmt.Errorf("rate limit %s: period %v must be positive", lim.Key, lim.Per)
		}
		if lim.Key == "" {
			return Decision{}, errors.New("rate limit: empty key")
		}
		keys = append(keys, Prefix+lim.Key)
		args = append(args, lim.Count, lim.Per.Microseconds())
	}
	if len(keys) == 0 {
		return Decision{OK: true}, nil
	}
	if !now.IsZero() {
		args[0] = now.UnixMicro()
	} else {
		args[0] = 0
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	args[1] = hex.EncodeToString(id[:])
	res, err := allowScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", keys[0], err)
	}
	if len(res) == 0 {
		return Decision{}, fmt.Errorf("rate limit %s: empty script reply", keys[0])
	}
	if res[0] == 1 {
		return Decision{OK: true, Reservation: Reservation{keys: keys, member: args[1].(string)}}, nil
	}
	if len(res) != 3 || res[2] < 1 || int(res[2]) > len(keys) {
		return Decision{}, fmt.Errorf("rate limit %s: unexpected script reply %v", keys[0], res)
	}
	return Decision{
		RetryIn: time.Duration(res[1]) * time.Microsecond,
		Denied:  keys[res[2]-1][len(Prefix):],
	}, nil
}

// Cancel takes back an event AllowAll recorded, in every window, so that
// limits count only what really happened: the delivery engine reserves room
// before it hands a message to the relay and cancels the reservation when
// the relay did not accept the message (a relay quota counts accepted
// messages, README "Throttles"). Cancelling twice, or after the window
// expired, does nothing.
func (l *Limiter) Cancel(ctx context.Context, r Reservation) error {
	if len(r.keys) == 0 {
		return nil
	}
	pipe := l.rdb.Pipeline()
	for _, k := range r.keys {
		pipe.ZRem(ctx, k, r.member)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("rate limit %s: cancel: %w", r.keys[0], err)
	}
	return nil
}
