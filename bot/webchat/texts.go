package webchat

import "linli/bot"

// uiTexts are the page's own words (buttons, placeholders, notes about the
// connection), in both languages; the page switches between them without a
// reload. What the conversation says comes from the flows' catalogs. The
// quick words are words the flows understand in either language.
var uiTexts = map[string]map[string]string{
	bot.LangZH: {
		"placeholder":   "输入消息…",
		"send":          "发送",
		"photo":         "照片",
		"location":      "位置",
		"switch_lang":   "English",
		"switch_word":   "English",
		"quick_menu":    "菜单",
		"quick_report":  "报修",
		"quick_status":  "我的",
		"word_menu":     "菜单",
		"word_report":   "报修",
		"word_status":   "我的",
		"welcome_back":  "欢迎回来！发送“菜单”查看全部服务，或直接点下面的按钮。",
		"you_photo":     "[照片]",
		"you_location":  "[位置] %s",
		"photo_link":    "查看图片",
		"err_network":   "网络不通，消息没有发出。请稍后再试。",
		"err_rate":      "发送太快了，请稍等片刻再发。",
		"err_too_large": "照片太大了，请换一张或截图后再发。",
		"err_type":      "只能发送 JPEG、PNG 或 WebP 格式的照片。",
		"err_photo":     "这张照片无法读取，请换一张。",
		"err_location":  "无法获取位置。您可以直接输入楼栋、单元和房号。",
		"err_server":    "服务暂时不可用，请稍后再试。",
		"err_origin":    "请从本站页面发送消息。",
		"noscript":      "网页聊天需要启用 JavaScript。",
	},
	bot.LangEN: {
		"placeholder":   "Type a message…",
		"send":          "Send",
		"photo":         "Photo",
		"location":      "Location",
		"switch_lang":   "中文",
		"switch_word":   "中文",
		"quick_menu":    "Menu",
		"quick_report":  "Report",
		"quick_status":  "My items",
		"word_menu":     "menu",
		"word_report":   "report",
		"word_status":   "status",
		"welcome_back":  "Welcome back! Send “menu” to see every service, or tap a button below.",
		"you_photo":     "[photo]",
		"you_location":  "[location] %s",
		"photo_link":    "Open the picture",
		"err_network":   "No connection: the message was not sent. Please try again later.",
		"err_rate":      "That was quick! Please wait a moment before sending more.",
		"err_too_large": "That photo is too large. Please pick another or send a screenshot.",
		"err_type":      "Only JPEG, PNG or WebP photos can be sent.",
		"err_photo":     "This photo cannot be read. Please pick another.",
		"err_location":  "Your location is not available. You can type the building, unit and room instead.",
		"err_server":    "The service is unavailable just now. Please try again later.",
		"err_origin":    "Please send messages from this site's page.",
		"noscript":      "The web chat needs JavaScript.",
	},
}
