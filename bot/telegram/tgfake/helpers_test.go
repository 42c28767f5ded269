package tgfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot/telegram/tgfake"
)

const (
	resident  int64 = 1001
	resident2 int64 = 1002
	staffChat int64 = -1001234567890 // a supergroup
	basicChat int64 = -4321          // a basic group
)

// manualClock is a clock that only moves when the test says so.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFake(t *testing.T, opts ...tgfake.Option) *tgfake.Fake {
	t.Helper()
	f := tgfake.New(opts...)
	t.Cleanup(f.Close)
	return f
}

// newBot points a real go-telegram/bot client at the fake. It skips getMe
// (TestNewCallsGetMe covers it) and keeps the library's default logging of
// errors and updates out of test output.
func newBot(t *testing.T, f *tgfake.Fake, opts ...bot.Option) *bot.Bot {
	t.Helper()
	base := []bot.Option{
		bot.WithServerURL(f.URL()),
		bot.WithSkipGetMe(),
		bot.WithErrorsHandler(func(error) {}),
		bot.WithDefaultHandler(func(context.Context, *bot.Bot, *models.Update) {}),
	}
	b, err := bot.New(f.Token(), append(base, opts...)...)
	if err != nil {
		t.Fatalf("bot.New: %v", err)
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiAnswer is the envelope of a raw answer.
type apiAnswer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// raw calls the fake without the library, to cover encodings and answers
// the library hides.
func raw(t *testing.T, ctx context.Context, f *tgfake.Fake, method, contentType, body string) (int, apiAnswer) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL()+"/bot"+f.Token()+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a apiAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s: answer %q: %v", method, data, err)
	}
	return resp.StatusCode, a
}

func keyboard(rows ...[]models.InlineKeyboardButton) *models.InlineKeyboardMarkup {
	return &models.InlineKeyboardMarkup{InlineKeyboard: rows}
}

func wantErrContains(t *testing.T, err error, sentinel error, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %q, got nil", text)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q is not %v", err, sentinel)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not contain %q", err, text)
	}
}

func jsonMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
