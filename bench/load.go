package main

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// scenario is one kind of request the load generator sends.
type scenario struct {
	name   string
	method string
	path   string
	// auth is the Authorization header ("" for none).
	auth string
	// next fills the request of worker w (body, headers); false means the
	// worker has nothing left to send (single-use codes ran out).
	next func(w int, req *fasthttp.Request) bool
	// check tells whether a response is a success; after may keep
	// something from it (the rotated refresh token).
	check func(status int, body []byte) bool
	after func(w int, body []byte)
}

// result is what one run measured.
type result struct {
	Requests int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	MaxRSS   int64 // bytes, 0 when not sampled
	Rate     float64
	Note     string
}

// run drives the scenario at addr with conns keep-alive connections for
// d. rate > 0 paces the requests (open loop, latency measured from each
// request's scheduled start so that a stall is not hidden); rate 0 sends
// as fast as the server answers.
func run(addr string, conns int, d time.Duration, rate float64, sc *scenario) result {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		MaxIdemponentCallAttempts: 1}
	var (
		wg       sync.WaitGroup
		requests atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		lats     []int32 // microseconds
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(d)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(conns) / rate * float64(time.Second))
	}
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]int32, 0, 1<<16)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			sched := start.Add(time.Duration(w) * interval / time.Duration(conns))
			for {
				now := time.Now()
				if now.After(deadline) {
					break
				}
				if interval > 0 {
					if sched.After(deadline) {
						break
					}
					if wait := sched.Sub(now); wait > 0 {
						time.Sleep(wait)
					}
				}
				req.Reset()
				req.SetRequestURI("http://" + addr + sc.path)
				req.Header.SetMethod(sc.method)
				if sc.auth != "" {
					req.Header.Set("Authorization", sc.auth)
				}
				if sc.next != nil && !sc.next(w, req) {
					break
				}
				t0 := time.Now()
				if interval > 0 {
					t0 = sched
					sched = sched.Add(interval)
				}
				err := client.Do(req, resp)
				lat := time.Since(t0)
				requests.Add(1)
				if err != nil || !sc.check(resp.StatusCode(), resp.Body()) {
					errs.Add(1)
					if firstErr.Load() == nil {
						if err != nil {
							firstErr.Store(err.Error())
						} else {
							firstErr.Store(fmt.Sprintf("%d %.200s", resp.StatusCode(), resp.Body()))
						}
					}
					continue
				}
				if sc.after != nil {
					sc.after(w, resp.Body())
				}
				local = append(local, int32(lat/time.Microsecond))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if elapsed > d && rate == 0 {
		elapsed = d // workers stop at the deadline; the last answers overlap it
	}
	r := result{Requests: requests.Load(), Errors: errs.Load(), Elapsed: elapsed}
	r.Rate = float64(r.Requests-r.Errors) / elapsed.Seconds()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	r.P50, r.P99 = percentile(lats, 0.50), percentile(lats, 0.99)
	if e, ok := firstErr.Load().(string); ok {
		r.Note = "first error: " + e
	}
	return r
}

func percentile(sorted []int32, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return time.Duration(sorted[i]) * time.Microsecond
}

// ok200 accepts a 200 answer.
func ok200(status int, _ []byte) bool { return status == 200 }

// ok200With accepts a 200 answer containing want.
func ok200With(want string) func(int, []byte) bool {
	w := []byte(want)
	return func(status int, body []byte) bool { return status == 200 && bytes.Contains(body, w) }
}

// jsonString extracts the string value of key from a flat JSON object
// (enough for token responses; no escapes occur in tokens).
func jsonString(body []byte, key string) string {
	k := []byte(`"` + key + `":"`)
	i := bytes.Index(body, k)
	if i < 0 {
		return ""
	}
	rest := body[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// rssSampler records the largest resident set size of a process.
type rssSampler struct {
	pid  int
	max  atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if v := readRSS(pid); v > s.max.Load() {
				s.max.Store(v)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.max.Load()
}
