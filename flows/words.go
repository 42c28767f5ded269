package flows

import (
	"strings"
	"unicode"
)

// Words that mean the same thing everywhere, in both languages. They are
// matched against the whole message after normalize.
var (
	wordsCancel      = []string{"取消", "cancel", "退出", "quit", "stop"}
	wordsBack        = []string{"返回", "back", "上一步", "previous"}
	wordsMenu        = []string{"菜单", "menu", "主菜单", "main menu", "帮助", "help", "start", "?", "？"}
	wordsHelp        = []string{"帮助", "help", "?", "？"}
	wordsContinue    = []string{"继续", "continue", "resume"}
	wordsSkip        = []string{"跳过", "skip", "无", "没有", "none", "no", "不用", "-"}
	wordsYes         = []string{"确定", "确认", "是", "好", "好的", "yes", "y", "ok", "confirm", "提交", "submit"}
	wordsNo          = []string{"不", "不了", "否", "no", "n", "算了"}
	wordsReport      = []string{"报修", "report", "报事", "报事报修", "我要报修", "投诉", "反映问题"}
	wordsBook        = []string{"预约", "book", "预约服务", "booking"}
	wordsEvents      = []string{"活动", "events", "社区活动", "event"}
	wordsStatus      = []string{"我的", "status", "我的事项", "查询", "进度", "mine", "my items"}
	wordsPhone       = []string{"绑定手机", "phone", "绑定", "手机", "bind phone"}
	wordsUnsubscribe = []string{"退订", "td", "unsubscribe"}
	wordsEnglish     = []string{"english", "英文", "英语"}
	wordsChinese     = []string{"中文", "chinese", "汉语", "简体中文"}
)

// normalize makes typed text comparable: full-width forms folded, case
// folded, surrounding space and trailing punctuation removed, a leading
// slash (Telegram commands like /menu) dropped.
func normalize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= '！' && r <= '～' && r != '？': // full-width ASCII block
			return r - 0xFEE0
		case r == '\u3000':
			return ' '
		}
		return r
	}, s)
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimRightFunc(s, func(r rune) bool {
		return r == '.' || r == '。' || r == '!' || r == '！' || r == '~' || unicode.IsSpace(r)
	})
	s = strings.TrimPrefix(s, "/")
	if i := strings.IndexByte(s, '@'); i > 0 && !strings.ContainsRune(s[:i], ' ') {
		s = s[:i] // "/menu@linli_bot"
	}
	return strings.Join(strings.Fields(s), " ")
}

// is reports whether normalized text is one of the words.
func is(norm string, words []string) bool {
	for _, w := range words {
		if norm == w {
			return true
		}
	}
	return false
}
