package webchat

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst requests at once, refilled at PerMinute.
type Limit struct {
	PerMinute float64
	Burst     int
}

// Limits bound what one browser and one network address may do.
type Limits struct {
	// Messages and photos per session: a person types far slower than this.
	Session Limit
	// Every API request (including event polls) per client address.
	Address Limit
	// New sessions per client address: each may become a resident row.
	NewSessions Limit
	// Photo uploads per client address: each is a file on disk.
	Uploads Limit
}

// DefaultLimits are generous for people and a family behind one NAT, and
// tight enough that a script cannot fill the database or the disk quickly.
var DefaultLimits = Limits{
	Session:     Limit{PerMinute: 30, Burst: 15},
	Address:     Limit{PerMinute: 600, Burst: 120},
	NewSessions: Limit{PerMinute: 1, Burst: 30},
	Uploads:     Limit{PerMinute: 1, Burst: 10},
}

// limiter keeps one token bucket per key.
type limiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiter(l Limit) *limiter {
	return &limiter{limit: rate.Limit(l.PerMinute / 60), burst: max(l.Burst, 1), m: map[string]*bucket{}}
}

// allow takes one token for key at now; when there is none it says how long
// until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.m[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets buckets that have been idle long enough to be full again:
// forgetting them changes nothing, and the map stays as small as the set of
// recently active keys.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute && len(l.m) < 10000 {
		return
	}
	l.swept = now
	full := time.Hour
	if l.limit > 0 {
		full = time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	}
	for k, b := range l.m {
		if now.Sub(b.last) > full {
			delete(l.m, k)
		}
	}
}

// allow answers 429 with Retry-After when key has no token left.
func (s *Server) allow(w http.ResponseWriter, l *limiter, key string) bool {
	ok, wait := l.allow(key, s.opt.Now())
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "rate", "retry_after": max(secs, 1)})
	return false
}

// clientAddr is the key of per-address limits: the connection's address, or
// the configured header set by a reverse proxy in front of linli. IPv6
// addresses count per /64, which one subscriber usually holds whole.
func (s *Server) clientAddr(r *http.Request) string {
	raw := ""
	if h := s.opt.RealIPHeader; h != "" {
		// The last entry is the one the trusted proxy itself added.
		vs := strings.Split(r.Header.Get(h), ",")
		raw = strings.TrimSpace(vs[len(vs)-1])
	}
	if _, err := netip.ParseAddr(raw); err != nil || raw == "" {
		raw = r.RemoteAddr
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			raw = host
		}
	}
	a, err := netip.ParseAddr(raw)
	if err != nil {
		return raw
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
