package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	offconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/sirupsen/logrus"

	"linli/bot/benchcpu"
	"linli/bot/wechat/wechatfake"
)

// The two benchmarks below run in one package and one run so their ratio
// means something:
//
//	go test ./cmd/linli -run '^$' -bench 'WeChat(Inbound|EchoBaseline)' -benchtime 3s
//
// Both serve signed plain-mode text messages with unique MsgIds through an
// http.Handler on a recorder (no sockets), one request at a time.

// benchBody is a plain-mode text message with a unique MsgId.
func benchBody(from, text string, msgID int64, now int64) string {
	return "<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[" + from +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(now, 10) + "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" +
		text + "]]></Content><MsgId>" + strconv.FormatInt(msgID, 10) + "</MsgId></xml>"
}

func benchPost(b *testing.B, h http.Handler, target, body string) string {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// benchWeChat is what a benchmark of the inbound path posts to.
type benchWeChat struct {
	h      http.Handler
	target string
	now    int64
	id     atomic.Int64 // the last MsgId used
}

func (w *benchWeChat) post(b *testing.B, from, text string) string {
	return benchPost(b, w.h, w.target, benchBody(from, text, w.id.Add(1), w.now))
}

// linliWeChat is linli's server with each of users at the description step
// of a report (同意: the example config asks for consent first).
func linliWeChat(b *testing.B, users []string) (*benchWeChat, *app) {
	fake := wechatfake.New(wechatfake.Config{})
	b.Cleanup(fake.Close)
	a := wechatApp(b, fake)
	w := &benchWeChat{h: a.routes(), target: "/wechat?" + signedQuery(wxToken), now: time.Now().Unix()}
	w.id.Store(1 << 40)
	for _, u := range users {
		var out string
		for _, text := range []string{"报修", "同意", "2"} {
			out = w.post(b, u, text)
		}
		if !strings.Contains(out, "请描述一下问题") {
			b.Fatalf("%s not at the description step: %q", u, out)
		}
	}
	return w, a
}

// echoWeChat is the silenceper SDK's officialaccount server answering every
// text with a fixed passive reply: it verifies, parses and renders, and
// stores nothing. Its logrus (the SDK logs each request body at debug
// level) is set to warn, so nothing is printed.
func echoWeChat() *benchWeChat {
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(io.Discard)
	oa := officialaccount.NewOfficialAccount(&offconfig.Config{AppID: "wxbench", AppSecret: "s", Token: wxToken, Cache: cache.NewMemory()})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := oa.GetServer(r, w)
		srv.SetMessageHandler(func(*message.MixMessage) *message.Reply {
			return &message.Reply{MsgType: message.MsgTypeText, MsgData: message.NewText("收到，谢谢！")}
		})
		if err := srv.Serve(); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		srv.Send()
	})
	w := &benchWeChat{h: h, target: "/wechat?" + signedQuery(wxToken), now: time.Now().Unix()}
	w.id.Store(1 << 41)
	return w
}

// benchTexts alternate answering the description question and going back
// to it, so every message is a real step with one reply.
var benchTexts = []string{"楼道灯坏了三天，晚上很黑", "返回"}

// linliReplied and echoReplied check an answer.
func linliReplied(out string) bool { return len(out) >= 100 }
func echoReplied(out string) bool  { return strings.Contains(out, "收到") }

// runSerial posts b.N messages from one sender.
func runSerial(b *testing.B, w *benchWeChat, from string, replied func(string) bool) {
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		if out := w.post(b, from, benchTexts[i%2]); !replied(out) {
			b.Fatalf("no passive reply: %q", out)
		}
	}
}

// The parallel pair serves benchUsers residents at once, each one's
// messages one after another, for throughput under load (the serial pair
// is one resident's round trip):
//
//	go test ./cmd/linli -run '^$' -bench 'WeChat.*Parallel' -benchtime 3s
const benchUsers = 32

func benchSenders() []string {
	users := make([]string, benchUsers)
	for u := range users {
		users[u] = "oBench" + strconv.Itoa(u)
	}
	return users
}

// runParallel posts b.N messages from users, each sender's in order.
func runParallel(b *testing.B, w *benchWeChat, users []string, replied func(string) bool) {
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(len(users)/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		user := users[int(next.Add(1)-1)%len(users)]
		for i := 0; pb.Next(); i++ {
			if out := w.post(b, user, benchTexts[i%2]); !replied(out) {
				b.Errorf("no passive reply: %q", out)
				return
			}
		}
	})
}

// keysStored fails the benchmark unless every message's key was stored.
func keysStored(b *testing.B, a *app) {
	b.StopTimer()
	var n int
	a.st.DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM inbound_keys").Scan(&n)
	if n < b.N {
		b.Fatalf("%d keys stored for %d messages", n, b.N)
	}
}

// BenchmarkWeChatInbound is linli's whole path for one message: verify the
// signature, parse, claim the dedupe key, resolve the resident, run one
// step of the report flow (answering the description, then going back to
// it), persist the conversation and the message log, render the passive
// reply.
func BenchmarkWeChatInbound(b *testing.B) {
	w, a := linliWeChat(b, []string{"oBench"})
	runSerial(b, w, "oBench", linliReplied)
	keysStored(b, a)
}

// BenchmarkWeChatEchoBaseline is the SDK on its own (echoWeChat).
func BenchmarkWeChatEchoBaseline(b *testing.B) {
	runSerial(b, echoWeChat(), "oBench", echoReplied)
}

// BenchmarkWeChatInboundParallel is BenchmarkWeChatInbound with
// benchUsers residents at once, each at the description step of a report.
func BenchmarkWeChatInboundParallel(b *testing.B) {
	users := benchSenders()
	w, a := linliWeChat(b, users)
	runParallel(b, w, users, linliReplied)
	keysStored(b, a)
}

// BenchmarkWeChatEchoBaselineParallel is BenchmarkWeChatEchoBaseline with
// benchUsers senders at once.
func BenchmarkWeChatEchoBaselineParallel(b *testing.B) {
	runParallel(b, echoWeChat(), benchSenders(), echoReplied)
}
