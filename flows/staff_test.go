package flows

import (
	"context"
	"testing"

	"linli/bot"
)

func TestStaffCommandsRefusedToResidents(t *testing.T) {
	h := newHarness(t)
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/resolve T1001 done"})
	expect(t, rs, "您不是本社区工作人员，无法使用 /resolve", "已记录")
	log, _ := h.st.AuditLog(context.Background(), 10)
	if len(log) != 1 || log[0].Allowed || log[0].Action != "resolve" || log[0].Actor != "telegram:555" {
		t.Fatalf("audit %+v", log)
	}
	// A resident's own commands are resident words.
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/report@linli_bot"}), "请选择问题类别")
}

func TestStaffCommandAllowedAndAudited(t *testing.T) {
	h := newHarness(t)
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "900", ChatID: "-100", Group: true, Text: "/checkin@linli_bot ABC"})
	if len(rs) != 1 {
		t.Fatalf("replies %+v", rs)
	}
	log, _ := h.st.AuditLog(context.Background(), 10)
	if len(log) != 1 || !log[0].Allowed || log[0].Actor != "王主任" || log[0].Detail != "ABC" {
		t.Fatalf("audit %+v", log)
	}
	// Chatter in the staff group gets no answer.
	if rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "900", ChatID: "-100", Group: true, Text: "大家好"}); len(rs) != 0 {
		t.Fatalf("answered group chatter: %+v", rs)
	}
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "900", ChatID: "-100", Group: true, Text: "/nope"}), "未知命令 /nope")
}

func TestAdminOnlyCommand(t *testing.T) {
	h := newHarness(t)
	h.cfg.Staff = append(h.cfg.Staff, StaffMember{Name: "小李", Role: "staff", TelegramID: 901})
	h.restart()
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "901", Text: "/broadcast"}), "/broadcast 仅限管理员使用")
}

func TestParseCommand(t *testing.T) {
	for _, c := range []struct{ in, name, args string }{
		{"/claim T1024", "claim", "T1024"},
		{"/r@linli_bot T1024 明天上午来修", "r", "T1024 明天上午来修"},
		{"/OPEN", "open", ""},
		{"／t T1001", "t", "T1001"},
	} {
		name, args, ok := parseCommand(c.in)
		if !ok || name != c.name || args != c.args {
			t.Errorf("%q → %q %q %v", c.in, name, args, ok)
		}
	}
	if _, _, ok := parseCommand("报修"); ok {
		t.Error("plain text parsed as a command")
	}
}

// TestCatalogsComplete checks every message has both languages and the same
// formatting verbs in each.
func TestCatalogsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range catalogs {
		for k, tx := range c {
			if seen[k] {
				t.Errorf("key %q defined twice", k)
			}
			seen[k] = true
			if tx.zh == "" || tx.en == "" {
				t.Errorf("key %q lacks a language", k)
			}
			if verbs(tx.zh) != verbs(tx.en) {
				t.Errorf("key %q: verbs %q vs %q", k, verbs(tx.zh), verbs(tx.en))
			}
		}
	}
}

func verbs(s string) string {
	var out []byte
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			j := i + 1
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			if j < len(s) {
				out = append(out, s[i:j+1]...)
			}
			i = j
		}
	}
	return string(out)
}

// In a private chat (WeChat staff have no other) a staff member's mistyped
// command is answered with the commands, not read as a resident's answer;
// the resident commands still work for staff, and a resident's unknown
// /word is a resident's.
func TestStaffTypoInAPrivateChat(t *testing.T) {
	h := newHarness(t)
	h.cfg.Staff = append(h.cfg.Staff, StaffMember{Name: "老周", Role: "staff", WeChatOpenID: "o-zhou"})
	h.restart()
	zhou := func(text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-zhou", Text: text})
	}
	zhou("报修") // a question left open
	expect(t, zhou("/clam T1001"), "未知命令 /clam", "/claim")
	expect(t, zhou("/menu"), "报事报修")
	expectNot(t, h.say("amy", "/clam"), "未知命令")
}
