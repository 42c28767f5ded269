package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"linli/bot"
	"linli/bot/wechat/wechatfake"
	"linli/notify"
	"linli/store"
)

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// deadURL is an address nothing listens on: every dial is refused, which
// the net package reports as a *net.OpError whose Temporary() is false.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

// A refused connection or a 5xx from a gateway says nothing about the row:
// the error must say "temporary" so the dispatcher tries again.
func TestTransportErrorsAreTemporary(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	cfg := e.cfg
	cfg.APIBaseURL = deadURL(t)
	dead, err := NewClient(cfg, ClientOptions{Tokens: e.st, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Token(ctx)
	if err == nil || !isTemporary(err) {
		t.Fatalf("refused connection: %v, temporary %v", err, isTemporary(err))
	}
	if strings.Contains(err.Error(), e.cfg.AppSecret) {
		t.Fatalf("secret in %q", err)
	}

	e.fake.Touch("o1", e.clk.Now())
	c := e.client(t)
	for _, status := range []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusInternalServerError} {
		e.fake.FailNextHTTP(wechatfake.PathCustomSend, status, 1)
		if err := c.SendText(ctx, "o1", "x"); err == nil || !isTemporary(err) {
			t.Fatalf("HTTP %d: %v", status, err)
		}
	}
}

// Through the dispatcher: a staff reply to a WeChat resident while the API
// cannot be reached stays pending for another try instead of failing.
func TestDispatcherRetriesWhenWeChatIsDown(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	ctx := context.Background()
	id := e.resident(t, "o1")
	e.cfg.APIBaseURL = deadURL(t)
	d := notify.NewDispatcher(e.st, &recordingSMS{}, nil, e.clk.Now)
	d.Register(bot.ChannelWeChat, e.sender(t))
	ids, err := e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: notify.KindReply, ResidentID: id.ResidentID,
		Body: store.OutboxBody{Text: "师傅明天上午来修"}, DueAt: e.clk.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := e.st.OutboxRowByID(ctx, ids[0])
	if row.Status != store.OutboxPending || !strings.Contains(row.Error, "refused") {
		t.Fatalf("row %s %q, want pending after a refused connection", row.Status, row.Error)
	}
}
