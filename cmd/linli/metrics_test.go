package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"linli/bot"
)

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsAfterConversation runs a scripted report and a cancelled one,
// then scrapes /metrics.
func TestMetricsAfterConversation(t *testing.T) {
	base, a, stop := startServer(t)
	defer stop()
	ctx := context.Background()
	say := func(user, text string) {
		if _, err := a.bot.Handle(ctx, bot.Message{Channel: bot.ChannelConsole, UserID: user, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	// 同意: config.example.yaml asks for consent, which handles the 报修 kept.
	for _, line := range []string{"报修", "同意", "2", "楼道灯坏了", "跳过", "跳过", "跳过", "1"} {
		say("m1", line)
	}
	for _, line := range []string{"报修", "同意", "取消"} {
		say("m2", line)
	}
	// A push with the wrong key is refused and counted.
	resp, err := http.Post(base+"/sms/aliyun/report?key=wrong", "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	a.met.SMSResult("aliyun", "failed", "isv.MOBILE_NUMBER_ILLEGAL")
	out := scrape(t, base)
	for _, want := range []string{
		`linli_inbound_messages_total{channel="console",kind="text"} 11`,
		`linli_flows_ended_total{flow="consent",outcome="completed"} 2`,
		`linli_flows_ended_total{flow="report",outcome="completed"} 1`,
		`linli_flows_ended_total{flow="report",outcome="cancelled"} 1`,
		`linli_reply_latency_seconds_count{channel="console"} 11`,
		`linli_webhook_rejections_total{channel="sms",reason="forbidden"} 1`,
		`linli_sms_total{code="isv.MOBILE_NUMBER_ILLEGAL",provider="aliyun",result="failed"} 1`,
		`linli_tickets_open 1`,
		`linli_tickets_overdue 0`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The conversation wrote: the write lock was held for some time.
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "linli_store_write_lock_held_seconds_total "); ok {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 {
				t.Errorf("write lock held %q", v)
			}
		}
	}
	if !strings.Contains(out, "linli_store_write_lock_wait_seconds_total ") {
		t.Error("metrics lack the write lock's wait")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", out)
	}
}
