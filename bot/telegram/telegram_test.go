package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/bot/telegram"
	"linli/bot/telegram/tgfake"
	"linli/notify"
	"linli/store"
)

const (
	resident  int64 = 1001
	staffChat int64 = -1001234567890
	secret          = "s3cret_token-1"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a Handler that records messages and answers with reply.
type recorder struct {
	mu    sync.Mutex
	msgs  []bot.Message
	got   chan bot.Message
	reply func(m bot.Message) []bot.Reply
}

func newRecorder(reply func(m bot.Message) []bot.Reply) *recorder {
	if reply == nil {
		reply = func(bot.Message) []bot.Reply { return nil }
	}
	return &recorder{got: make(chan bot.Message, 1000), reply: reply}
}

func (r *recorder) Handle(_ context.Context, m bot.Message) ([]bot.Reply, error) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.got <- m:
	default: // nobody reads them (a benchmark): count only
	}
	return r.reply(m), nil
}

func (r *recorder) next(t *testing.T) bot.Message {
	t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message handled")
		return bot.Message{}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// marker records SetIdentityUnreachable calls.
type marker struct {
	mu  sync.Mutex
	ids []string
}

func (m *marker) SetIdentityUnreachable(_ context.Context, channel, id string, v bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if channel == bot.ChannelTelegram && v {
		m.ids = append(m.ids, id)
	}
	return nil
}

func (m *marker) marked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ids...)
}

type setup struct {
	f   *tgfake.Fake
	ch  *telegram.Channel
	rec *recorder
	mk  *marker
	cfg telegram.Config
}

func newSetup(t *testing.T, mode string, reply func(m bot.Message) []bot.Reply, mods ...func(*telegram.Options)) *setup {
	t.Helper()
	f := tgfake.New()
	t.Cleanup(f.Close)
	s := &setup{f: f, rec: newRecorder(reply), mk: &marker{}}
	s.cfg = telegram.Config{Enabled: true, Token: f.Token(), Mode: mode, WebhookPath: "/telegram", WebhookSecret: secret,
		APIBaseURL: f.URL(), StaffChatID: staffChat}
	opt := telegram.Options{Logger: quietLog(), Marker: s.mk, PollTimeout: 2 * time.Second,
		WebhookURL: "https://linli.example.org/telegram",
		Commands: map[string][]telegram.Command{
			"":   {{Name: "menu", Description: "主菜单"}},
			"zh": {{Name: "menu", Description: "主菜单"}, {Name: "report", Description: "报事报修"}},
			"en": {{Name: "menu", Description: "Main menu"}, {Name: "report", Description: "Report a problem"}},
		},
		StaffCommands: map[string][]telegram.Command{"": {{Name: "open", Description: "未办结工单"}}},
	}
	for _, m := range mods {
		m(&opt)
	}
	ch, err := telegram.New(s.cfg, s.rec, opt)
	if err != nil {
		t.Fatal(err)
	}
	s.ch = ch
	return s
}

// run starts the channel (polling or webhook setup) until the test ends.
func (s *setup) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ch.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("channel did not stop")
		}
	})
}

// post sends an update to the webhook handler and returns the status.
func (s *setup) post(t *testing.T, u models.Update, secretHeader string) int {
	t.Helper()
	b, _ := json.Marshal(u)
	req := httptest.NewRequest(http.MethodPost, "/telegram", bytes.NewReader(b))
	if secretHeader != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretHeader)
	}
	w := httptest.NewRecorder()
	bot.Guard(quietLog(), s.ch).ServeHTTP(w, req)
	telegram.Settle(s.ch, &u)
	return w.Code
}

func TestPollingTurnsUpdatesIntoMessages(t *testing.T) {
	s := newSetup(t, "polling", func(m bot.Message) []bot.Reply {
		return []bot.Reply{{Text: "收到", Choices: []bot.Choice{{Payload: "yes", Label: "确定"}, {Payload: "no", Label: "不了"}}}}
	})
	s.f.SetUser(models.User{ID: resident, FirstName: "阿姨", LastName: "张", LanguageCode: "en-US"})
	s.run(t)
	ctx := ctxT(t)
	if _, err := s.f.WaitCalls(ctx, "getUpdates", 1); err != nil {
		t.Fatal(err)
	}
	// Setup: command menus in zh, en and by default; the staff group's own.
	if got := s.f.Commands("", "zh"); len(got) != 2 || got[1].Command != "report" {
		t.Errorf("zh commands %+v", got)
	}
	if got := s.f.Commands("", "en"); len(got) != 2 || got[0].Description != "Main menu" {
		t.Errorf("en commands %+v", got)
	}
	if got := s.f.Commands("", ""); len(got) != 1 {
		t.Errorf("default commands %+v", got)
	}
	if got := s.f.Commands("chat:"+strconv.FormatInt(staffChat, 10), ""); len(got) != 1 || got[0].Command != "open" {
		t.Errorf("staff commands %+v", got)
	}

	u := s.f.TextUpdate(resident, resident, "报修")
	s.f.Push(u)
	m := s.rec.next(t)
	if m.Channel != bot.ChannelTelegram || m.UserID != "1001" || m.ChatID != "" || m.Text != "报修" || m.LangHint != "en-US" ||
		m.DisplayName != "阿姨 张" || m.DedupeKey != "u"+strconv.FormatInt(u.ID, 10) || m.Group || m.At.IsZero() {
		t.Fatalf("message %+v", m)
	}
	sent, err := s.f.WaitSent(ctx, resident, 1)
	if err != nil {
		t.Fatal(err)
	}
	kb := sent[0].InlineKeyboard
	if sent[0].Text != "收到" || len(kb) != 1 || len(kb[0]) != 2 || kb[0][1].CallbackData != "no" || kb[0][1].Text != "不了" {
		t.Fatalf("sent %+v", sent[0])
	}

	s.f.Push(s.f.PhotoUpdate(resident, resident, "门口"))
	m = s.rec.next(t)
	if m.Image == nil || m.Image.Ref == "" || m.Image.URL != "" || m.Text != "门口" {
		t.Fatalf("photo message %+v", m)
	}

	s.f.Push(s.f.LocationUpdate(resident, resident, 39.9042, 116.4074))
	if m = s.rec.next(t); m.Location == nil || m.Location.Latitude != 39.9042 || m.Location.Longitude != 116.4074 {
		t.Fatalf("location message %+v", m)
	}

	s.f.Push(s.f.TextUpdate(resident, resident, "/start report"))
	if m = s.rec.next(t); m.Event != bot.EventStart || m.EventKey != "report" || m.Text != "" {
		t.Fatalf("deep link %+v", m)
	}
	s.f.Push(s.f.TextUpdate(resident, resident, "/start"))
	if m = s.rec.next(t); m.Event != bot.EventSubscribe {
		t.Fatalf("plain /start %+v", m)
	}

	alert := s.f.TextUpdate(staffChat, 900, "alert")
	s.f.Push(s.f.ReplyUpdate(staffChat, 900, alert.Message.ID, "明天去修"))
	m = s.rec.next(t)
	if !m.Group || m.ChatID != strconv.FormatInt(staffChat, 10) || m.UserID != "900" || m.ReplyTo != strconv.Itoa(alert.Message.ID) {
		t.Fatalf("group reply %+v", m)
	}
	// Replies in the group answer the message they belong to.
	gs, err := s.f.WaitSent(ctx, staffChat, 1)
	if err != nil {
		t.Fatal(err)
	}
	if gs[0].ReplyTo == 0 {
		t.Errorf("group reply not threaded: %+v", gs[0])
	}
}

func TestPhotoKeepsTheLargestSize(t *testing.T) {
	s := newSetup(t, "webhook", nil)
	u := s.f.PhotoUpdate(resident, resident, "")
	largest := u.Message.Photo[len(u.Message.Photo)-1]
	// Telegram promises no order: shuffle the sizes.
	u.Message.Photo[0], u.Message.Photo[2] = u.Message.Photo[2], u.Message.Photo[0]
	if code := s.post(t, u, secret); code != 200 {
		t.Fatalf("status %d", code)
	}
	if m := s.rec.next(t); m.Image == nil || m.Image.Ref != largest.FileID {
		t.Fatalf("image %+v, want %s", m.Image, largest.FileID)
	}
}

func TestFiftyUpdatesOfOneChatInOrder(t *testing.T) {
	var mu sync.Mutex
	inFlight := map[string]bool{}
	overlap := false
	s := newSetup(t, "polling", func(m bot.Message) []bot.Reply {
		key := m.UserID
		mu.Lock()
		if inFlight[key] {
			overlap = true
		}
		inFlight[key] = true
		mu.Unlock()
		for i := 0; i < 50; i++ {
			runtime.Gosched() // give a concurrent handler every chance to interleave
		}
		mu.Lock()
		inFlight[key] = false
		mu.Unlock()
		return nil
	})
	var ups []models.Update
	for i := 0; i < 50; i++ {
		ups = append(ups, s.f.TextUpdate(resident, resident, strconv.Itoa(i)))
		ups = append(ups, s.f.TextUpdate(resident+1, resident+1, strconv.Itoa(i)))
	}
	s.f.Push(ups...) // one getUpdates batch of 100
	s.run(t)
	var a, b []string
	for len(a)+len(b) < 100 {
		m := s.rec.next(t)
		if m.UserID == "1001" {
			a = append(a, m.Text)
		} else {
			b = append(b, m.Text)
		}
	}
	for i := 0; i < 50; i++ {
		if a[i] != strconv.Itoa(i) || b[i] != strconv.Itoa(i) {
			t.Fatalf("out of order:\n%v\n%v", a, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Fatal("two updates of one chat were handled at once")
	}
}

func TestWebhookSlowUpdateHoldsOnlyItsChat(t *testing.T) {
	release := make(chan struct{})
	s := newSetup(t, "webhook", func(m bot.Message) []bot.Reply {
		if m.Text == "a0" {
			<-release // the first update of chat A is slow
		}
		return nil
	})
	codes := make(chan int, 2)
	a0 := s.f.TextUpdate(resident, resident, "a0")
	go func() { codes <- s.post(t, a0, secret) }()
	if m := s.rec.next(t); m.Text != "a0" {
		t.Fatalf("first %q", m.Text)
	}
	a1 := s.f.TextUpdate(resident, resident, "a1")
	go func() { codes <- s.post(t, a1, secret) }()
	// Another chat is not held up …
	if code := s.post(t, s.f.TextUpdate(resident+1, resident+1, "b0"), secret); code != 200 {
		t.Fatalf("status %d", code)
	}
	if m := s.rec.next(t); m.Text != "b0" {
		t.Fatalf("chat B waited for chat A; got %q", m.Text)
	}
	// … while chat A's next update waits for its first.
	close(release)
	if m := s.rec.next(t); m.Text != "a1" {
		t.Fatalf("then %q", m.Text)
	}
	for i := 0; i < 2; i++ {
		if c := <-codes; c != 200 {
			t.Fatalf("status %d", c)
		}
	}
}

// heldTransport holds every sendMessage until release is closed.
type heldTransport struct {
	started chan struct{}
	release chan struct{}
}

func (h heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/sendMessage") {
		h.started <- struct{}{}
		<-h.release
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestPollConfirmsOnceStored: the poll that confirms a batch goes out once
// the batch is stored, while its replies are still on their way.
func TestPollConfirmsOnceStored(t *testing.T) {
	held := heldTransport{started: make(chan struct{}, 1), release: make(chan struct{})}
	s := newSetup(t, "polling", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "收到"}} }, func(o *telegram.Options) {
		o.HTTPClient = &http.Client{Transport: held}
		o.MaxHold = time.Hour // only the stored batch may end the wait
	})
	u := s.f.TextUpdate(resident, resident, "hi")
	s.f.Push(u)
	s.run(t)
	defer close(held.release)
	<-held.started // stored, and the reply is being sent
	if _, err := s.f.WaitFor(ctxT(t), func(calls []tgfake.Call) bool {
		for _, c := range calls {
			if c.Method == "getUpdates" && c.Params.Int("offset") == u.ID+1 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no poll confirmed the update while its reply was held: %v", err)
	}
	if len(s.f.Sent(resident)) != 0 {
		t.Fatal("the reply was not held")
	}
}

// TestWebhookAnswersOnceStored: the webhook answers when the router is
// done with the update (stored), without waiting for the reply to reach
// Telegram; while the router still works on it, there is no answer, so
// Telegram would send it again.
func TestWebhookAnswersOnceStored(t *testing.T) {
	routed := make(chan struct{})
	held := heldTransport{started: make(chan struct{}, 1), release: make(chan struct{})}
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply {
		<-routed
		return []bot.Reply{{Text: "收到"}}
	}, func(o *telegram.Options) { o.HTTPClient = &http.Client{Transport: held} })
	srv := httptest.NewServer(bot.Guard(quietLog(), s.ch))
	defer srv.Close()
	answered := make(chan int, 1)
	go func() { answered <- postTo(srv.URL, s.f.TextUpdate(resident, resident, "hi"), secret) }()
	s.rec.next(t) // the router has it
	select {
	case code := <-answered:
		t.Fatalf("answered %d before the update was stored", code)
	case <-time.After(50 * time.Millisecond):
	}
	close(routed)
	<-held.started // the reply is on its way …
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	case <-time.After(10 * time.Second):
		close(held.release)
		t.Fatal("no answer while the reply was held")
	}
	if len(s.f.Sent(resident)) != 0 {
		t.Fatal("sent before the answer")
	}
	close(held.release) // … and arrives after the answer
	if _, err := s.f.WaitSent(ctxT(t), resident, 1); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookSecretBodyAndMethod(t *testing.T) {
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "ok"}} })
	u := s.f.TextUpdate(resident, resident, "hi")
	for _, h := range []string{"", "wrong", secret + "x"} {
		if code := s.post(t, u, h); code != http.StatusUnauthorized {
			t.Errorf("secret %q: status %d", h, code)
		}
	}
	if s.rec.count() != 0 || len(s.f.AllSent()) != 0 {
		t.Fatal("an update with a wrong secret was handled")
	}
	req := httptest.NewRequest(http.MethodPost, "/telegram", strings.NewReader(strings.Repeat("x", bot.MaxBody+1)))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	w := httptest.NewRecorder()
	s.ch.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", w.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/telegram", strings.NewReader("{not json"))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	w = httptest.NewRecorder()
	s.ch.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest {
		t.Errorf("bad json: %d", w.Code)
	}
	w = httptest.NewRecorder()
	s.ch.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/telegram", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
	if code := s.post(t, u, secret); code != 200 || s.rec.count() != 1 || len(s.f.Sent(resident)) != 1 {
		t.Fatalf("right secret: %d, handled %d", code, s.rec.count())
	}
}

func TestWebhookModeRegistersWebhook(t *testing.T) {
	s := newSetup(t, "webhook", nil)
	s.run(t)
	ctx := ctxT(t)
	if _, err := s.f.WaitCalls(ctx, "setWebhook", 1); err != nil {
		t.Fatal(err)
	}
	w := s.f.Webhook()
	if w.URL != "https://linli.example.org/telegram" || w.SecretToken != secret || strings.Join(w.AllowedUpdates, ",") != "message,callback_query,my_chat_member" {
		t.Fatalf("webhook %+v", w)
	}
}

func TestPanicInHandlerIsRecovered(t *testing.T) {
	s := newSetup(t, "webhook", func(m bot.Message) []bot.Reply {
		if m.Text == "boom" {
			panic("boom")
		}
		return []bot.Reply{{Text: "fine"}}
	})
	s.post(t, s.f.TextUpdate(resident, resident, "boom"), secret)
	if code := s.post(t, s.f.TextUpdate(resident, resident, "next"), secret); code != 200 {
		t.Fatalf("status %d", code)
	}
	if sent := s.f.Sent(resident); len(sent) != 1 || sent[0].Text != "fine" {
		t.Fatalf("sent %+v", sent)
	}
}

func TestCallbackAnsweredAndKeyboardUsedOnce(t *testing.T) {
	s := newSetup(t, "webhook", func(m bot.Message) []bot.Reply {
		if m.Payload != "" {
			return []bot.Reply{{Text: "chose " + m.Payload}}
		}
		return []bot.Reply{{Text: "pick", Choices: []bot.Choice{{Payload: "a", Label: "A"}, {Payload: "b", Label: "B"}}}}
	})
	s.post(t, s.f.TextUpdate(resident, resident, "hi"), secret)
	q := s.f.Sent(resident)[0]
	s.post(t, s.f.CallbackUpdate(resident, resident, q.MessageID, "b"), secret)
	s.post(t, s.f.CallbackUpdate(resident, resident, q.MessageID, "a"), secret) // the same keyboard again
	if got := s.f.CallsTo("answerCallbackQuery"); len(got) != 2 || !got[0].OK() || !got[1].OK() {
		t.Fatalf("answers %+v", got)
	}
	sent := s.f.Sent(resident)
	if len(sent) != 2 || sent[1].Text != "chose b" {
		t.Fatalf("sent %+v", sent)
	}
	if sent[0].InlineKeyboard != nil || sent[0].Edits != 1 {
		t.Fatalf("keyboard not removed: %+v", sent[0])
	}
	m := s.rec.msgs[1]
	if m.Payload != "b" || m.UserID != "1001" || m.Group {
		t.Fatalf("callback message %+v", m)
	}

	// In the staff group the alert's buttons stay for the next action.
	alert, _ := s.ch.Send(ctxT(t), notify.Recipient{Channel: bot.ChannelTelegram, Address: strconv.FormatInt(staffChat, 10)},
		store.OutboxBody{Text: "T1001", Choices: []store.OutboxChoice{{Payload: "desk:claim:T1001", Label: "认领 Claim"}}})
	id, _ := strconv.Atoi(alert)
	s.post(t, s.f.CallbackUpdate(staffChat, 900, id, "desk:claim:T1001"), secret)
	g := s.f.Sent(staffChat)
	if len(g) != 2 || g[0].InlineKeyboard == nil || g[1].ReplyTo != id || g[1].Text != "chose desk:claim:T1001" {
		t.Fatalf("group %+v", g)
	}
	if m := s.rec.msgs[len(s.rec.msgs)-1]; !m.Group || m.ChatID != strconv.FormatInt(staffChat, 10) || m.UserID != "900" {
		t.Fatalf("group callback %+v", m)
	}
}

func TestBlockedUserMarkedUnreachable(t *testing.T) {
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "hello"}} })
	ctx := ctxT(t)
	s.f.BlockChat(resident)
	_, err := s.ch.Send(ctx, notify.Recipient{Channel: bot.ChannelTelegram, Address: "1001"}, store.OutboxBody{Text: "你的工单"})
	var u interface{ Unreachable() bool }
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &u) || !u.Unreachable() || !errors.As(err, &tmp) || tmp.Temporary() {
		t.Fatalf("send to blocked: %v", err)
	}
	if strings.Contains(err.Error(), s.f.Token()) {
		t.Fatal("token in error")
	}
	// A reply that fails the same way marks them too.
	s.post(t, s.f.TextUpdate(resident, resident, "hi"), secret)
	if got := s.mk.marked(); len(got) != 2 || got[0] != "1001" || got[1] != "1001" {
		t.Fatalf("marked %v", got)
	}
	// Telegram's own notice of the block becomes an unsubscribe event.
	raw := `{"update_id":99,"my_chat_member":{"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"A"},"date":1,
		"old_chat_member":{"status":"member","user":{"id":7000000001,"is_bot":true,"first_name":"B"}},
		"new_chat_member":{"status":"kicked","until_date":0,"user":{"id":7000000001,"is_bot":true,"first_name":"B"}}}}`
	req := httptest.NewRequest(http.MethodPost, "/telegram", strings.NewReader(raw))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	w := httptest.NewRecorder()
	s.ch.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if m := s.rec.msgs[len(s.rec.msgs)-1]; m.Event != bot.EventUnsubscribe || m.UserID != "1001" {
		t.Fatalf("membership %+v", m)
	}
}

func TestTooManyRequestsHonoured(t *testing.T) {
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "hello"}} })
	var waits []time.Duration
	telegram.SetSleep(s.ch, func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil })
	s.f.FailNext("sendMessage", 1, 429, "", 3)
	s.post(t, s.f.TextUpdate(resident, resident, "hi"), secret)
	if len(waits) != 1 || waits[0] != 3*time.Second {
		t.Fatalf("waits %v", waits)
	}
	if calls := s.f.CallsTo("sendMessage"); len(calls) != 2 || calls[0].Code != 429 || !calls[1].OK() {
		t.Fatalf("calls %+v", calls)
	}
	// The outbox is told to come back later instead.
	s.f.FailNext("sendMessage", 1, 429, "", 7)
	_, err := s.ch.Send(ctxT(t), notify.Recipient{Channel: bot.ChannelTelegram, Address: "1001"}, store.OutboxBody{Text: "x"})
	var ra interface{ RetryAfter() time.Duration }
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second || !errors.As(err, &tmp) || !tmp.Temporary() {
		t.Fatalf("send under 429: %v", err)
	}
	// A wait longer than MaxRetryWait is not spent inside a reply.
	waits = nil
	s.f.FailNext("sendMessage", 1, 429, "", 120)
	s.post(t, s.f.TextUpdate(resident, resident, "hi"), secret)
	if len(waits) != 0 {
		t.Fatalf("waited %v", waits)
	}
}

func TestSendRendersOutboxBodies(t *testing.T) {
	s := newSetup(t, "webhook", nil)
	ctx := ctxT(t)
	to := notify.Recipient{Channel: bot.ChannelTelegram, Address: strconv.FormatInt(staffChat, 10)}
	photo := s.f.PhotoUpdate(resident, resident, "")
	fileID := photo.Message.Photo[2].FileID
	id, err := s.ch.Send(ctx, to, store.OutboxBody{Text: "🆕 T1001", ImageURL: fileID, Choices: []store.OutboxChoice{
		{Payload: "desk:claim:T1001", Label: "认领 Claim"}, {Payload: "desk:reply:T1001", Label: "回复 Reply"}, {Payload: "desk:resolve:T1001", Label: "办结 Resolve"}}})
	if err != nil {
		t.Fatal(err)
	}
	g := s.f.Sent(staffChat)
	if len(g) != 1 || g[0].Method != "sendPhoto" || g[0].Photo != fileID || g[0].Caption != "🆕 T1001" || len(g[0].InlineKeyboard) != 1 || len(g[0].InlineKeyboard[0]) != 3 || strconv.Itoa(g[0].MessageID) != id {
		t.Fatalf("alert %+v id %s", g, id)
	}
	// Threaded under it, and long text split at Telegram's limit.
	long := strings.Repeat("很长的说明。\n", 1000)
	id2, err := s.ch.Send(ctx, to, store.OutboxBody{Text: long, ThreadRef: id})
	if err != nil {
		t.Fatal(err)
	}
	g = s.f.Sent(staffChat)
	if len(g) < 3 || strconv.Itoa(g[1].MessageID) == id2 || strconv.Itoa(g[len(g)-1].MessageID) != id2 || strconv.Itoa(g[1].ReplyTo) != id {
		t.Fatalf("long text %d parts", len(g)-1)
	}
	var joined string
	for _, m := range g[1:] {
		joined += m.Text
	}
	if joined != long {
		t.Fatal("split lost text")
	}
	// A photo Telegram cannot use still lets the text through.
	if _, err := s.ch.Send(ctx, to, store.OutboxBody{Text: "text", ImageURL: "not-a-file"}); err != nil {
		t.Fatal(err)
	}
	if g = s.f.Sent(staffChat); g[len(g)-1].Text != "text" {
		t.Fatalf("fallback %+v", g[len(g)-1])
	}
	if _, err := s.ch.Send(ctx, notify.Recipient{Address: "abc"}, store.OutboxBody{Text: "x"}); err == nil {
		t.Fatal("bad address accepted")
	}
}

func TestPollingSurvivesErrorsAndConfirmsOnStop(t *testing.T) {
	s := newSetup(t, "polling", nil)
	var mu sync.Mutex
	var waits []time.Duration
	telegram.SetSleep(s.ch, func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	})
	s.f.FailNext("getUpdates", 1, 502, "", 0)
	s.f.FailNext("getUpdates", 1, 429, "", 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.ch.Run(ctx) }()
	s.f.Push(s.f.TextUpdate(resident, resident, "one"))
	if m := s.rec.next(t); m.Text != "one" {
		t.Fatal(m)
	}
	cancel()
	<-done
	if s.f.Pending() != 0 {
		t.Fatalf("%d updates left unconfirmed", s.f.Pending())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 || waits[0] != time.Second || waits[1] != 4*time.Second {
		t.Fatalf("waits %v: want a backoff, then retry_after", waits)
	}
}

// postTo posts an update to a webhook URL and returns the status.
func postTo(url string, u models.Update, secretHeader string) int {
	b, _ := json.Marshal(u)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretHeader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
