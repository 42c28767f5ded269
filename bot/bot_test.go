package bot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"linli/store"
)

// recorder is an engine that records the turns it saw and echoes them.
type recorder struct {
	mu    sync.Mutex
	turns []Turn
	panic bool
	fail  error
}

func (r *recorder) Handle(_ context.Context, t *Turn) ([]Reply, error) {
	r.mu.Lock()
	r.turns = append(r.turns, *t)
	r.mu.Unlock()
	if r.panic {
		panic("boom")
	}
	if r.fail != nil {
		return nil, r.fail
	}
	return []Reply{{Text: "echo " + t.Text, Choices: []Choice{{Payload: "a", Label: "A"}}}}, nil
}

func newTestBot(t *testing.T, eng Engine) (*Bot, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, eng, Options{DefaultLang: LangZH, Unavailable: func(lang string) []Reply { return []Reply{{Text: "unavailable " + lang}} }}), st
}

func TestDuplicateIsHandledOnce(t *testing.T) {
	rec := &recorder{}
	b, st := newTestBot(t, rec)
	ctx := context.Background()
	m := Message{Channel: ChannelWeChat, UserID: "oA", DedupeKey: "msg-1", Text: "hi"}
	if rs, err := b.Handle(ctx, m); err != nil || len(rs) != 1 {
		t.Fatalf("first: %v %v", rs, err)
	}
	for i := 0; i < 3; i++ {
		if _, err := b.Handle(ctx, m); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("redelivery %d: %v", i, err)
		}
	}
	if len(rec.turns) != 1 {
		t.Fatalf("engine ran %d times", len(rec.turns))
	}
	ms, _ := st.RecentMessages(ctx, rec.turns[0].Resident.ID, 10)
	if len(ms) != 2 || ms[0].Text != "hi" || ms[1].Text != "echo hi\n1. A" {
		t.Fatalf("log %+v", ms)
	}
}

func TestFirstContactAndLanguage(t *testing.T) {
	rec := &recorder{}
	b, st := newTestBot(t, rec)
	ctx := context.Background()
	b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "7", LangHint: "en-US", Text: "a"})
	b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "7", LangHint: "en-US", Text: "b"})
	b.Handle(ctx, Message{Channel: ChannelWeb, UserID: "s", Text: "c"})
	if !rec.turns[0].FirstContact || rec.turns[1].FirstContact {
		t.Fatal("first contact flag wrong")
	}
	if rec.turns[0].Lang != LangEN || rec.turns[2].Lang != LangZH {
		t.Fatalf("langs %s %s", rec.turns[0].Lang, rec.turns[2].Lang)
	}
	// The resident's own choice beats the hint.
	st.SetResidentLanguage(ctx, rec.turns[0].Resident.ID, LangZH)
	b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "7", LangHint: "en-US", Text: "d"})
	if rec.turns[3].Lang != LangZH {
		t.Fatalf("lang %s", rec.turns[3].Lang)
	}
}

func TestEnginePanicAndErrorBecomeAReply(t *testing.T) {
	rec := &recorder{panic: true}
	b, _ := newTestBot(t, rec)
	rs, err := b.Handle(context.Background(), Message{Channel: ChannelConsole, UserID: "x", Text: "hi"})
	if err != nil || len(rs) != 1 || rs[0].Text != "unavailable zh-CN" {
		t.Fatalf("%v %v", rs, err)
	}
	rec.panic, rec.fail = false, errors.New("db down")
	rs, err = b.Handle(context.Background(), Message{Channel: ChannelConsole, UserID: "x", Text: "hi"})
	if err != nil || rs[0].Text != "unavailable zh-CN" {
		t.Fatalf("%v %v", rs, err)
	}
}

func TestUnsubscribeEventMarksIdentity(t *testing.T) {
	rec := &recorder{}
	b, st := newTestBot(t, rec)
	ctx := context.Background()
	b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oB", Text: "hi"})
	rs, err := b.Handle(ctx, Message{Channel: ChannelWeChat, UserID: "oB", Event: EventUnsubscribe})
	if err != nil || len(rs) != 0 {
		t.Fatalf("%v %v", rs, err)
	}
	id, _ := st.FindIdentity(ctx, ChannelWeChat, "oB")
	if !id.Unreachable || len(rec.turns) != 1 {
		t.Fatalf("identity %+v, turns %d", id, len(rec.turns))
	}
}

func TestRejectsAnonymousMessage(t *testing.T) {
	b, _ := newTestBot(t, &recorder{})
	if _, err := b.Handle(context.Background(), Message{Channel: ChannelWeb, Text: "x"}); err == nil {
		t.Fatal("message without sender accepted")
	}
}

// TestKeyedQueueIsFIFO queues waiters one by one behind a holder and checks
// they get the key in the order they asked.
func TestKeyedQueueIsFIFO(t *testing.T) {
	q := newKeyedQueue()
	q.acquire("k")
	const n = 50
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.acquire("k")
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			q.release("k")
		}()
		// Wait until waiter i is queued before starting the next one.
		deadline := time.Now().Add(5 * time.Second)
		for {
			q.mu.Lock()
			queued := len(q.keys["k"].queue)
			q.mu.Unlock()
			if queued == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("waiter never queued")
			}
			runtimeGosched()
		}
	}
	// Another key is not blocked by "k".
	done := make(chan struct{})
	go func() { q.acquire("other"); q.release("other"); close(done) }()
	<-done
	q.release("k")
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("order %v", order)
		}
	}
	if len(q.keys) != 0 {
		t.Fatalf("keys left: %d", len(q.keys))
	}
}

// TestOneResidentInOrderOthersInParallel sends 50 messages of one resident
// while another resident's message must not wait for them.
func TestOneResidentInOrderOthersInParallel(t *testing.T) {
	gate := make(chan struct{})
	eng := &gatedEngine{gate: gate, started: make(chan string, 100)}
	b, _ := newTestBot(t, eng)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "1", Text: fmt.Sprint(i)})
		}()
		if i == 0 {
			<-eng.started // the first holds the resident's key inside the engine
		} else {
			waitQueued(t, b.queue, ChannelTelegram+"\x001", i)
		}
	}
	// Resident 2 runs while resident 1 is blocked.
	done := make(chan struct{})
	go func() {
		b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "2", Text: "other"})
		close(done)
	}()
	if got := <-eng.started; got != "other" {
		t.Fatalf("started %q while resident 1 was busy", got)
	}
	<-done
	close(gate)
	wg.Wait()
	eng.mu.Lock()
	defer eng.mu.Unlock()
	var seq []string
	for _, s := range eng.seen {
		if s != "other" {
			seq = append(seq, s)
		}
	}
	for i, s := range seq {
		if s != fmt.Sprint(i) {
			t.Fatalf("resident 1 handled out of order: %v", seq)
		}
	}
}

type gatedEngine struct {
	mu      sync.Mutex
	seen    []string
	gate    chan struct{}
	started chan string
}

func (g *gatedEngine) Handle(_ context.Context, t *Turn) ([]Reply, error) {
	g.mu.Lock()
	g.seen = append(g.seen, t.Text)
	g.mu.Unlock()
	g.started <- t.Text
	if t.Text != "other" {
		<-g.gate
	}
	return nil, nil
}

func waitQueued(t *testing.T, q *keyedQueue, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		w := q.keys[key]
		queued := 0
		if w != nil {
			queued = len(w.queue)
		}
		q.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", queued, n)
		}
		runtimeGosched()
	}
}

// TestGroupMessageKeepsPrivateChat: a staff member's message in the staff
// group does not make the group their address.
func TestGroupMessageKeepsPrivateChat(t *testing.T) {
	b, st := newTestBot(t, &recorder{})
	ctx := context.Background()
	b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "900", ChatID: "900", Text: "hi"})
	b.Handle(ctx, Message{Channel: ChannelTelegram, UserID: "900", ChatID: "-100", Group: true, Text: "/open"})
	id, _ := st.FindIdentity(ctx, ChannelTelegram, "900")
	if id.ChatID != "900" {
		t.Fatalf("chat id %q after a group message", id.ChatID)
	}
}
