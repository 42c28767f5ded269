package wechat

import (
	"strings"
	"unicode/utf8"

	"linli/bot"
)

// maxTextBytes is the longest text WeChat takes in one passive reply or
// customer-service message (2048 bytes); a little is kept back for the
// numbered choices appended to the last part.
const maxTextBytes = 2000

// splitLong turns replies whose text WeChat would refuse into several, cut
// at line breaks where possible; a reply's choices and image stay with its
// last part, so the question still comes last.
func splitLong(replies []bot.Reply) []bot.Reply {
	var out []bot.Reply
	for _, r := range replies {
		if len(replyText(r)) <= maxTextBytes {
			out = append(out, r)
			continue
		}
		parts := splitText(r.Text, maxTextBytes-len(replyText(bot.Reply{Choices: r.Choices, Image: r.Image}))-1)
		for i, p := range parts {
			part := bot.Reply{Text: p}
			if i == len(parts)-1 {
				part.Choices, part.Image = r.Choices, r.Image
			}
			out = append(out, part)
		}
	}
	return out
}

// splitText cuts s into pieces of at most max bytes, preferring line
// breaks, never inside a UTF-8 character.
func splitText(s string, max int) []string {
	if max < 64 {
		max = 64
	}
	var out []string
	for len(s) > max {
		cut := strings.LastIndexByte(s[:max], '\n')
		if cut <= 0 {
			cut = max
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
		}
		out = append(out, strings.TrimRight(s[:cut], "\n"))
		s = strings.TrimLeft(s[cut:], "\n")
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}
