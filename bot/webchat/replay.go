package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"linli/bot"
	"linli/store"
)

// The page gives every message an id and posts it again when it got no
// answer (a dropped connection, a timeout). The router refuses the second
// copy as a duplicate, but the page still needs the answer the first copy
// produced, such as a booking or a new ticket's number. So the replies of a
// message with an id are kept for a while, and a retry is answered with
// them; a retry that comes while the first copy still runs waits for it.

// ReplayLife is how long a message's replies are kept for its retries.
const ReplayLife = 10 * time.Minute

// turnTimeout bounds a turn that runs on after its request has gone.
const turnTimeout = 2 * time.Minute

const replayPrefix = "webchat:replay:"

// flight is a message with an id that is being handled.
type flight struct {
	done    chan struct{}
	replies []replyJSON
	err     error
	waiters int // retries waiting for it (tests watch this)
}

// flights are the messages with an id being handled in this process.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight of key and whether the caller started it (and so
// must finish it).
func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		f.waiters++
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

func (fs *flights) finish(key string, f *flight) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	close(f.done)
}

// waitingAny is how many retries wait for some flight (tests watch it).
func (fs *flights) waitingAny() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, f := range fs.m {
		n += f.waiters
	}
	return n
}

// handle runs m through the router once per dedupe key and returns the
// replies for the page. prepare, when set, runs before the router and only
// on the first copy (a photo's file is stored once). The turn runs to its
// end even if the request that started it goes away: the page's retry
// will ask for its answer.
func (s *Server) handle(ctx context.Context, m bot.Message, prepare func(context.Context, *bot.Message) error) ([]replyJSON, error) {
	run := func() ([]bot.Reply, error) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), turnTimeout)
		defer cancel()
		if prepare != nil {
			if err := prepare(tctx, &m); err != nil {
				return nil, err
			}
		}
		rs, err := s.h.Handle(tctx, m)
		if err != nil && !errors.Is(err, bot.ErrDuplicate) {
			return nil, err
		}
		return rs, err
	}
	if m.DedupeKey == "" {
		rs, err := run()
		if errors.Is(err, bot.ErrDuplicate) {
			err = nil
		}
		return toJSON(rs), err
	}
	key := m.DedupeKey
	for {
		f, first := s.flights.join(key)
		if !first {
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err == nil {
				return f.replies, nil
			}
			continue // the first copy failed before an answer: this one tries
		}
		if out, ok := s.loadReplay(ctx, key); ok {
			f.replies = out
			s.flights.finish(key, f)
			return out, nil
		}
		rs, err := run()
		switch {
		case errors.Is(err, bot.ErrDuplicate):
			// Handled before and its replies are gone (expired): the page
			// gets an empty answer, as before replies were kept.
			f.replies = []replyJSON{}
		case err != nil:
			f.err = err
		default:
			f.replies = toJSON(rs)
			s.saveReplay(ctx, key, f.replies)
		}
		// The replies are stored before the flight ends, so a retry finds
		// either the flight or the stored replies.
		s.flights.finish(key, f)
		return f.replies, f.err
	}
}

func (s *Server) loadReplay(ctx context.Context, key string) ([]replyJSON, bool) {
	v, _, err := s.st.GetValue(ctx, replayPrefix+key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("webchat: read kept replies", "err", err)
		}
		return nil, false
	}
	var out []replyJSON
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		s.log.Warn("webchat: kept replies unreadable", "err", err)
		return nil, false
	}
	return out, true
}

func (s *Server) saveReplay(ctx context.Context, key string, replies []replyJSON) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	b, err := json.Marshal(replies)
	if err == nil {
		err = s.st.SetValue(ctx, replayPrefix+key, string(b), s.opt.Now().Add(ReplayLife))
	}
	if err != nil {
		s.log.Warn("webchat: keep replies for a retry", "err", err)
	}
	s.purgeReplays(ctx)
}

// purgeReplays deletes expired kept replies (they hold what residents were
// told), at most once per ReplayLife.
func (s *Server) purgeReplays(ctx context.Context) {
	now := s.opt.Now().Unix()
	last := s.lastReplayPurge.Load()
	if now-last < int64(ReplayLife/time.Second) || !s.lastReplayPurge.CompareAndSwap(last, now) {
		return
	}
	if _, err := s.st.DeleteExpiredValues(ctx, replayPrefix); err != nil {
		s.log.Warn("webchat: purge kept replies", "err", err)
	}
}
