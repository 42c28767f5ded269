package wechat

import (
	"strings"
	"testing"
	"unicode/utf8"

	"linli/bot"
)

func TestSplitLongRepliesStayUnderWeChatsLimit(t *testing.T) {
	line := strings.Repeat("居民信息导出内容", 10) // 240 bytes
	long := strings.Repeat(line+"\n", 30)  // ~7 KB
	rs := splitLong([]bot.Reply{{Text: "短"}, {Text: long, Choices: []bot.Choice{{Payload: "a", Label: "确定"}}}})
	if len(rs) < 4 || rs[0].Text != "短" {
		t.Fatalf("%d replies", len(rs))
	}
	var joined []string
	for i, r := range rs {
		if n := len(replyText(r)); n > 2048 {
			t.Fatalf("reply %d is %d bytes", i, n)
		}
		if !utf8.ValidString(r.Text) {
			t.Fatalf("reply %d cut inside a character", i)
		}
		if i > 0 {
			joined = append(joined, r.Text)
		}
		if len(r.Choices) > 0 && i != len(rs)-1 {
			t.Fatalf("choices on part %d of %d", i, len(rs))
		}
	}
	if len(rs[len(rs)-1].Choices) != 1 || strings.Join(joined, "\n") != long {
		t.Fatal("content lost or choices moved")
	}
	// One line longer than the limit is cut between characters.
	for _, p := range splitText(strings.Repeat("字", 3000), 2000) {
		if len(p) > 2000 || !utf8.ValidString(p) {
			t.Fatalf("part of %d bytes", len(p))
		}
	}
}
