package telegram_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"linli/bot"
	"linli/bot/telegram"
	"linli/notify"
	"linli/store"
)

// flaky is a transport that drops the connection on chosen calls of
// sendMessage (counted from 1), as a network failure between parts would.
type flaky struct {
	mu   sync.Mutex
	n    int
	fail map[int]bool
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/sendMessage") {
		f.mu.Lock()
		f.n++
		drop := f.fail[f.n]
		f.mu.Unlock()
		if drop {
			// As http.Transport does (and RoundTrip must): the body is
			// closed on errors too. go-telegram/bot writes it from another
			// goroutine and would otherwise format this error there while
			// it rewrites the *url.Error's URL.
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, errors.New("connection reset by peer")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (f *flaky) failOn(calls ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = map[int]bool{}
	for _, c := range calls {
		f.fail[f.n+c] = true
	}
}

// longText takes three messages on Telegram.
var longText = strings.Repeat("很长的说明。\n", 1500)

func joined(ms []string) string { return strings.Join(ms, "") }

func sentTexts(s *setup, chat int64) []string {
	var out []string
	for _, m := range s.f.Sent(chat) {
		out = append(out, m.Text)
	}
	return out
}

// An outbox row of three parts whose second part fails is retried from the
// second part: the resident gets every part once.
func TestRetriedRowResumesAfterSentParts(t *testing.T) {
	e := newOutboxEnv(t)
	fl := &flaky{}
	s := newSetup(t, "webhook", nil, e.options, func(o *telegram.Options) {
		o.HTTPClient = &http.Client{Transport: fl}
		o.Progress = e.st
	})
	ctx := ctxT(t)
	to := notify.Recipient{Channel: bot.ChannelTelegram, Address: "1001"}
	body := store.OutboxBody{Text: longText, Choices: []store.OutboxChoice{{Payload: "ok", Label: "好"}}}

	fl.failOn(2)
	_, err := s.ch.Send(ctx, to, body)
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &tmp) || !tmp.Temporary() {
		t.Fatalf("first try: %v", err)
	}
	if n := len(s.f.Sent(resident)); n != 1 {
		t.Fatalf("%d parts out after the failure", n)
	}
	id, err := s.ch.Send(ctx, to, body)
	if err != nil {
		t.Fatal(err)
	}
	sent := s.f.Sent(resident)
	if len(sent) != 3 || joined(sentTexts(s, resident)) != longText {
		t.Fatalf("%d messages; text whole: %v", len(sent), joined(sentTexts(s, resident)) == longText)
	}
	if strconv.Itoa(sent[2].MessageID) != id || sent[2].InlineKeyboard == nil || sent[1].InlineKeyboard != nil {
		t.Fatalf("keyboard or id wrong: id %s, %+v", id, sent[2])
	}
	// The record went with the finished send: the same text later is a new
	// message, sent whole.
	if _, err := s.ch.Send(ctx, to, body); err != nil {
		t.Fatal(err)
	}
	if n := len(s.f.Sent(resident)); n != 6 {
		t.Fatalf("%d messages after a second identical row, want 6", n)
	}
}

// A photo whose text follows it: when the text fails, the retry does not
// send the photo again, and the text still answers the photo.
func TestRetriedRowDoesNotResendPhoto(t *testing.T) {
	e := newOutboxEnv(t)
	s := newSetup(t, "webhook", nil, e.options, func(o *telegram.Options) { o.Progress = e.st })
	ctx := ctxT(t)
	fileID := s.f.PhotoUpdate(resident, resident, "").Message.Photo[2].FileID
	to := notify.Recipient{Channel: bot.ChannelTelegram, Address: "1001"}
	body := store.OutboxBody{Text: strings.Repeat("说明", 600), ImageURL: fileID}

	s.f.FailNext("sendMessage", 1, 502, "", 0)
	if _, err := s.ch.Send(ctx, to, body); err == nil {
		t.Fatal("no error from a 502")
	}
	if _, err := s.ch.Send(ctx, to, body); err != nil {
		t.Fatal(err)
	}
	sent := s.f.Sent(resident)
	if len(s.f.CallsTo("sendPhoto")) != 1 || len(sent) != 2 || sent[0].Method != "sendPhoto" || sent[1].Text != body.Text || sent[1].ReplyTo != sent[0].MessageID {
		var got []string
		for _, m := range sent {
			got = append(got, m.Method+" reply_to="+strconv.Itoa(m.ReplyTo))
		}
		t.Fatalf("sendPhoto %d calls; sent %v", len(s.f.CallsTo("sendPhoto")), got)
	}
}

// An immediate reply whose second part fails is queued with what was sent
// recorded: the dispatcher sends only the rest.
func TestQueuedReplyResumesAfterSentParts(t *testing.T) {
	e := newOutboxEnv(t)
	fl := &flaky{}
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: longText}, {Text: "完"}} },
		e.options, func(o *telegram.Options) {
			o.HTTPClient = &http.Client{Transport: fl}
			o.Progress = e.st
		})
	fl.failOn(2)
	s.post(t, s.f.TextUpdate(resident, resident, "说明"), secret)
	if n := len(s.f.Sent(resident)); n != 1 {
		t.Fatalf("%d parts out", n)
	}
	if rows := e.rows(t); len(rows) != 2 || rows[0].Body.Text != longText {
		t.Fatalf("rows %+v", rows)
	}
	e.dispatch(t, s.ch)
	got := sentTexts(s, resident)
	if len(got) != 4 || joined(got[:3]) != longText || got[3] != "完" {
		t.Fatalf("%d messages; text whole: %v", len(got), len(got) > 3 && joined(got[:3]) == longText)
	}
}
