package tgfake_test

// These tests pin the go-telegram/bot v1.19.0 behaviour the package doc
// describes, so that an upgrade that changes it fails here rather than in
// production.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

func TestLibraryWebhookHandlerAnswers200OnWrongSecret(t *testing.T) {
	f := newFake(t)
	ctx := testCtx(t)
	handled := make(chan int64, 2)
	var mu sync.Mutex
	var libErrors []string
	b := newBot(t, f,
		bot.WithWebhookSecretToken("right"),
		bot.WithDefaultHandler(func(_ context.Context, _ *bot.Bot, u *models.Update) { handled <- u.ID }),
		bot.WithErrorsHandler(func(err error) {
			mu.Lock()
			defer mu.Unlock()
			libErrors = append(libErrors, err.Error())
		}),
	)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.StartWebhook(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	post := func(secret string, u models.Update) int {
		req := httptest.NewRequest(http.MethodPost, "/telegram", strings.NewReader(string(jsonMarshal(t, u))))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		rec := httptest.NewRecorder()
		b.WebhookHandler()(rec, req)
		return rec.Code
	}
	wrong := f.TextUpdate(resident, resident, "forged")
	if code := post("wrong", wrong); code != http.StatusOK {
		t.Errorf("wrong secret answered %d; the adapter's 401 wrapper may be unnecessary now", code)
	}
	right := f.TextUpdate(resident, resident, "real")
	if code := post("right", right); code != http.StatusOK {
		t.Errorf("right secret answered %d", code)
	}
	// The forged update was dropped before queueing, so the first update
	// handled is the real one.
	select {
	case id := <-handled:
		if id != right.ID {
			t.Errorf("handled update %d, want %d", id, right.ID)
		}
	case <-ctx.Done():
		t.Fatal("real update not handled")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(libErrors) != 1 || !strings.Contains(libErrors[0], "invalid webhook secret token") {
		t.Errorf("errors handler got %q", libErrors)
	}
}

func TestLibraryHandlersRunConcurrentlyUnlessNotAsync(t *testing.T) {
	f := newFake(t)
	ctx := testCtx(t)
	first, second := f.TextUpdate(resident, resident, "1"), f.TextUpdate(resident, resident, "2")

	// Default: each update gets its own goroutine, so the handler of the
	// first message of a chat can still be running when the second's ends.
	secondDone := make(chan struct{})
	firstSawSecond := make(chan bool, 1)
	b := newBot(t, f, bot.WithDefaultHandler(func(ctx context.Context, _ *bot.Bot, u *models.Update) {
		if u.ID == second.ID {
			close(secondDone)
			return
		}
		select {
		case <-secondDone:
			firstSawSecond <- true
		case <-ctx.Done():
			firstSawSecond <- false
		}
	}))
	b.ProcessUpdate(ctx, &first)
	b.ProcessUpdate(ctx, &second)
	if !<-firstSawSecond {
		t.Error("handlers did not overlap; the per-chat serialisation advice may be stale")
	}

	// WithNotAsyncHandlers runs the handler in the caller's goroutine.
	var ran bool
	serial := newBot(t, f, bot.WithNotAsyncHandlers(), bot.WithDefaultHandler(func(context.Context, *bot.Bot, *models.Update) { ran = true }))
	serial.ProcessUpdate(ctx, &first)
	if !ran {
		t.Error("WithNotAsyncHandlers did not run the handler before ProcessUpdate returned")
	}
}

func TestLibraryMatchTypeCommandMissesBotnameAndNonASCII(t *testing.T) {
	f := newFake(t)
	ctx := testCtx(t)
	var got string
	b := newBot(t, f, bot.WithNotAsyncHandlers(),
		bot.WithDefaultHandler(func(context.Context, *bot.Bot, *models.Update) { got = "default" }))
	b.RegisterHandler(bot.HandlerTypeMessageText, "open", bot.MatchTypeCommand,
		func(context.Context, *bot.Bot, *models.Update) { got = "open" })

	for _, tc := range []struct{ text, want string }{
		{"/open", "open"},
		{"请看 /open", "default"},             // UTF-16 offsets sliced as bytes
		{"/open@linli_test_bot", "default"}, // the @botname stays in the compared text
		{"/open T1024", "open"},
		{"see /open", "open"},
	} {
		got = ""
		u := f.TextUpdate(staffChat, 77, tc.text)
		b.ProcessUpdate(ctx, &u)
		if got != tc.want {
			t.Errorf("%q went to %s, want %s", tc.text, got, tc.want)
		}
	}
}

func TestLibraryWithHTTPClientSetsThePollTimeout(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f, bot.WithHTTPClient(3*time.Second, f.Client()))
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() { b.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	polls, err := f.WaitCalls(ctx, "getUpdates", 1)
	if err != nil {
		t.Fatal(err)
	}
	// getUpdates asks for pollTimeout minus one second.
	if got := polls[0].Params.Int("timeout"); got != 2 {
		t.Errorf("timeout = %d, want 2", got)
	}
}
