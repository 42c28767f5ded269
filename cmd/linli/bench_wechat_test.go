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

// BenchmarkWeChatInbound is linli's whole path for one message: verify the
// signature, parse, claim the dedupe key, resolve the resident, run one
// step of the report flow (answering the description, then going back to
// it), persist the conversation and the message log, render the passive
// reply.
func BenchmarkWeChatInbound(b *testing.B) {
	fake := wechatfake.New(wechatfake.Config{})
	defer fake.Close()
	a := wechatApp(b, fake)
	h := a.routes()
	target := "/wechat?" + signedQuery(wxToken)
	now := time.Now().Unix()
	var id int64 = 1 << 40
	// 同意: the example config asks for consent first.
	var out string
	for _, text := range []string{"报修", "同意", "2"} {
		id++
		out = benchPost(b, h, target, benchBody("oBench", text, id, now))
	}
	if !strings.Contains(out, "请描述一下问题") {
		b.Fatalf("not at the description step: %q", out)
	}
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		id++
		out := benchPost(b, h, target, benchBody("oBench", texts[i%2], id, now))
		if len(out) < 100 {
			b.Fatalf("no passive reply: %q", out)
		}
	}
	b.StopTimer()
	var n int
	a.st.DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM inbound_keys").Scan(&n)
	if n < b.N {
		b.Fatalf("%d keys stored for %d messages", n, b.N)
	}
}

// BenchmarkWeChatEchoBaseline is the silenceper SDK's officialaccount
// server answering every text with a fixed passive reply: it verifies,
// parses and renders, and stores nothing. Its logrus (the SDK logs each
// request body at debug level) is set to warn, so nothing is printed.
func BenchmarkWeChatEchoBaseline(b *testing.B) {
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
	target := "/wechat?" + signedQuery(wxToken)
	now := time.Now().Unix()
	var id int64 = 1 << 41
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		id++
		out := benchPost(b, h, target, benchBody("oBench", texts[i%2], id, now))
		if !strings.Contains(out, "收到") {
			b.Fatalf("no reply: %q", out)
		}
	}
}

// The parallel pair serves benchUsers residents at once, each one's
// messages one after another, for throughput under load (the serial pair
// above is one resident's round trip):
//
//	go test ./cmd/linli -run '^$' -bench 'WeChat.*Parallel' -benchtime 3s
const benchUsers = 32

func benchParallelism(b *testing.B) {
	b.SetParallelism(max(benchUsers/runtime.GOMAXPROCS(0), 1))
}

// BenchmarkWeChatInboundParallel is BenchmarkWeChatInbound with
// benchUsers residents at once, each at the description step of a report.
func BenchmarkWeChatInboundParallel(b *testing.B) {
	fake := wechatfake.New(wechatfake.Config{})
	defer fake.Close()
	a := wechatApp(b, fake)
	h := a.routes()
	target := "/wechat?" + signedQuery(wxToken)
	now := time.Now().Unix()
	var id atomic.Int64
	id.Store(1 << 40)
	users := make([]string, benchUsers)
	for u := range users {
		users[u] = "oBench" + strconv.Itoa(u)
		var out string
		for _, text := range []string{"报修", "同意", "2"} {
			out = benchPost(b, h, target, benchBody(users[u], text, id.Add(1), now))
		}
		if !strings.Contains(out, "请描述一下问题") {
			b.Fatalf("%s not at the description step: %q", users[u], out)
		}
	}
	var next atomic.Int64
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	b.ReportAllocs()
	benchParallelism(b)
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		user := users[int(next.Add(1)-1)%benchUsers]
		for i := 0; pb.Next(); i++ {
			out := benchPost(b, h, target, benchBody(user, texts[i%2], id.Add(1), now))
			if len(out) < 100 {
				b.Errorf("no passive reply: %q", out)
				return
			}
		}
	})
	b.StopTimer()
	var n int
	a.st.DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM inbound_keys").Scan(&n)
	if n < b.N {
		b.Fatalf("%d keys stored for %d messages", n, b.N)
	}
}

// BenchmarkWeChatEchoBaselineParallel is BenchmarkWeChatEchoBaseline with
// benchUsers senders at once.
func BenchmarkWeChatEchoBaselineParallel(b *testing.B) {
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
	target := "/wechat?" + signedQuery(wxToken)
	now := time.Now().Unix()
	var id, next atomic.Int64
	id.Store(1 << 41)
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	b.ReportAllocs()
	benchParallelism(b)
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		user := "oBench" + strconv.Itoa(int(next.Add(1)-1)%benchUsers)
		for i := 0; pb.Next(); i++ {
			out := benchPost(b, h, target, benchBody(user, texts[i%2], id.Add(1), now))
			if !strings.Contains(out, "收到") {
				b.Errorf("no reply: %q", out)
				return
			}
		}
	})
}
