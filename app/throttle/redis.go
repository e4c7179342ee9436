package throttle

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis counts in Redis: one sorted set per key, the members event IDs,
// the scores their times in microseconds. Each set expires TTL after its
// latest event, and events older than TTL are dropped as new ones come,
// so nothing needs sweeping.
type Redis struct {
	Client redis.UniversalClient
	// Prefix starts every Redis key (e.g. "gatehouse:throttle:").
	Prefix string
	// TTL is how long events are kept: at least the longest window.
	TTL time.Duration
}

// DefaultRedisPrefix starts Gatehouse's throttle keys in Redis.
const DefaultRedisPrefix = "gatehouse:throttle:"

// NewRedis counts in Redis through client, keeping events for an hour
// (the longest window is 10 minutes).
func NewRedis(client redis.UniversalClient) *Redis {
	return &Redis{Client: client, Prefix: DefaultRedisPrefix, TTL: time.Hour}
}

func (r *Redis) key(k string) string { return r.Prefix + k }

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// AddThrottleEvent adds the event with a random ID (63 bits: IDs do not
// collide within a key) and drops the key's expired events.
func (r *Redis) AddThrottleEvent(ctx context.Context, key string, at time.Time) (int64, error) {
	id := rand.Int64N(1<<63-1) + 1
	k := r.key(key)
	_, err := r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMicro()), Member: strconv.FormatInt(id, 10)})
		p.ZRemRangeByScore(ctx, k, "-inf", "("+micros(at.Add(-r.TTL)))
		p.PExpire(ctx, k, r.TTL)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// DeleteThrottleEvents removes the events from their keys' sets.
func (r *Redis) DeleteThrottleEvents(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	_, err := r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range events {
			p.ZRem(ctx, r.key(e.Key), strconv.FormatInt(e.ID, 10))
		}
		return nil
	})
	return err
}

// CountThrottleEvents counts the events at or after since and returns the
// earliest one's time.
func (r *Redis) CountThrottleEvents(ctx context.Context, key string, since time.Time) (int64, time.Time, error) {
	k := r.key(key)
	var count *redis.IntCmd
	var first *redis.ZSliceCmd
	_, err := r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		min := micros(since)
		count = p.ZCount(ctx, k, min, "+inf")
		first = p.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Min: min, Max: "+inf", Count: 1})
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, time.Time{}, err
	}
	n := count.Val()
	if n == 0 || len(first.Val()) == 0 {
		return 0, time.Time{}, nil
	}
	return n, time.UnixMicro(int64(first.Val()[0].Score)).UTC(), nil
}

// ClearThrottle deletes the key's set.
func (r *Redis) ClearThrottle(ctx context.Context, key string) error {
	return r.Client.Del(ctx, r.key(key)).Err()
}

// Ping checks that Redis answers (for /readyz).
func (r *Redis) Ping(ctx context.Context) error { return r.Client.Ping(ctx).Err() }

// Close closes the client.
func (r *Redis) Close() error { return r.Client.Close() }

// Open returns the store the configuration asks for: Redis at redisURL,
// or the database when redisURL is empty. (The configuration has checked
// the URL; one that does not parse gives a store whose every call fails,
// so the limits fail closed.)
func Open(redisURL string, db DatabaseStore) Store {
	if redisURL == "" {
		return Database(db)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return broken{errors.New("throttle: GATEHOUSE_REDIS_URL is not a valid Redis URL")}
	}
	return NewRedis(redis.NewClient(opts))
}

type broken struct{ err error }

func (b broken) AddThrottleEvent(context.Context, string, time.Time) (int64, error) { return 0, b.err }
func (b broken) DeleteThrottleEvents(context.Context, ...Event) error               { return b.err }
func (b broken) CountThrottleEvents(context.Context, string, time.Time) (int64, time.Time, error) {
	return 0, time.Time{}, b.err
}
func (b broken) ClearThrottle(context.Context, string) error { return b.err }
func (b broken) Ping(context.Context) error                  { return b.err }
