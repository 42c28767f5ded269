package webchat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"linli/bot"
)

// gate holds messages whose text is "slow" inside the router until released.
type gate struct {
	h       Handler
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Handle(ctx context.Context, m bot.Message) ([]bot.Reply, error) {
	if m.Text == "slow" {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.h.Handle(ctx, m)
}

func replyTexts(a apiAnswer) string {
	var ts []string
	for _, r := range a.Replies {
		ts = append(ts, r.Text)
	}
	return strings.Join(ts, "|")
}

// A retried message is answered with the first copy's replies, and the
// flow runs once.
func TestRetriedMessageGetsTheSameReplies(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	n := len(e.eng.all())
	first := decode(t, e.send(c, `{"text":"预约","id":"retry-0123456789"}`))
	again := decode(t, e.send(c, `{"text":"预约","id":"retry-0123456789"}`))
	if replyTexts(first) != "echo 预约" || replyTexts(again) != replyTexts(first) {
		t.Fatalf("first %+v, retry %+v", first, again)
	}
	if got := len(e.eng.all()) - n; got != 1 {
		t.Fatalf("the flow ran %d times", got)
	}
	// Another session's message with the same id is its own message.
	other := decode(t, e.send(e.hello(), `{"text":"别的","id":"retry-0123456789"}`))
	if replyTexts(other) != "echo 别的" {
		t.Fatalf("other session %+v", other)
	}
}

// The first copy's request is gone (the page gave up on it) while its turn
// still runs; the retry waits for that turn and gets its replies.
func TestRetryWaitsForTheRunningTurn(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 2), release: make(chan struct{})}
	e := newEnv(t, func(o *Options) { g.h = o.Handler; o.Handler = g })
	c := e.hello()
	msg := `{"text":"slow","id":"slow-0123456789"}`
	post := func(ctx context.Context) *httptest.ResponseRecorder {
		hr := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:8080/api/message", strings.NewReader(msg))
		hr.RemoteAddr = "192.0.2.10:40000"
		hr.Header.Set("Origin", "http://127.0.0.1:8080")
		hr.Header.Set("Content-Type", "application/json")
		hr.AddCookie(c)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, hr)
		return w
	}
	lost, cancel := context.WithCancel(context.Background())
	firstDone := make(chan struct{})
	go func() { defer close(firstDone); post(lost) }()
	<-g.entered
	cancel() // the page stops waiting for the first answer

	retry := make(chan *httptest.ResponseRecorder, 1)
	go func() { retry <- post(context.Background()) }()
	deadline := time.After(10 * time.Second)
	for e.srv.flights.waitingAny() == 0 {
		select {
		case <-deadline:
			t.Fatal("the retry did not wait for the running turn")
		case <-time.After(time.Millisecond):
		}
	}
	close(g.release)
	w := <-retry
	<-firstDone
	if a := decode(t, w); w.Code != 200 || replyTexts(a) != "echo slow" {
		t.Fatalf("retry: %d %+v", w.Code, a)
	}
	slow := 0
	for _, turn := range e.eng.all() {
		if turn.Text == "slow" {
			slow++
		}
	}
	if slow != 1 {
		t.Fatalf("the flow ran %d times", slow)
	}
}

// Kept replies survive a restart, expire after ReplayLife and are then
// deleted from the store.
func TestKeptRepliesSurviveRestartAndExpire(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	msg := `{"text":"报修","id":"keep-0123456789"}`
	first := decode(t, e.send(c, msg))
	e.start()
	if again := decode(t, e.send(c, msg)); replyTexts(again) != replyTexts(first) {
		t.Fatalf("after a restart %+v", again)
	}
	e.clk.Add(ReplayLife + time.Minute)
	n := len(e.eng.all())
	if late := decode(t, e.send(c, msg)); len(late.Replies) != 0 || len(e.eng.all()) != n {
		t.Fatalf("a late retry: %+v, flow ran %d times", late, len(e.eng.all())-n)
	}
	e.send(c, `{"text":"新的","id":"next-0123456789"}`)
	var kept int
	if err := e.st.DB().QueryRow("SELECT COUNT(*) FROM kv WHERE key LIKE 'webchat:replay:%'").Scan(&kept); err != nil || kept != 1 {
		t.Fatalf("%d kept replies in the store, want only the newest (%v)", kept, err)
	}
}

// A retried photo upload is answered like the first and stores no second file.
func TestRetriedPhotoStoresOneFile(t *testing.T) {
	e := newEnv(t, nil)
	c := e.hello()
	img := pngBytes(t, 32, 32)
	up := func() apiAnswer {
		return decode(t, e.do(req{method: "POST", path: "/api/photo?id=photo-0123456789", body: img, cookie: c,
			headers: map[string]string{"Content-Type": "application/octet-stream"}}))
	}
	first, again := up(), up()
	if !strings.HasPrefix(replyTexts(first), "photo "+publicURL) || replyTexts(again) != replyTexts(first) {
		t.Fatalf("first %+v, retry %+v", first, again)
	}
	if entries, _ := os.ReadDir(e.opt.UploadDir); len(entries) != 1 {
		t.Fatalf("%d files for one photo", len(entries))
	}
}
