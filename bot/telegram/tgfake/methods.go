package tgfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

type msgKey struct {
	chat int64
	id   int
}

type chatState struct {
	chat models.Chat
	// lastID is the chat's last message id: incoming and outgoing messages
	// share one sequence per chat, as in Telegram.
	lastID    int
	msgs      map[int]*models.Message
	blocked   bool
	migrateTo int64
	sends     []time.Time
}

type callbackState struct {
	answered bool
}

// chatLocked returns the chat's state, creating it with a type guessed
// from the id.
func (f *Fake) chatLocked(id int64) *chatState {
	if cs, ok := f.chats[id]; ok {
		return cs
	}
	c := models.Chat{ID: id}
	switch {
	case id > 0:
		c.Type = models.ChatTypePrivate
		u := f.userLocked(id)
		c.FirstName, c.LastName, c.Username = u.FirstName, u.LastName, u.Username
	case id <= -1_000_000_000_000:
		c.Type = models.ChatTypeSupergroup
		c.Title = fmt.Sprintf("Supergroup %d", id)
	default:
		c.Type = models.ChatTypeGroup
		c.Title = fmt.Sprintf("Group %d", id)
	}
	cs := &chatState{chat: c, msgs: map[int]*models.Message{}}
	f.chats[id] = cs
	return cs
}

func (f *Fake) userLocked(id int64) models.User {
	if u, ok := f.users[id]; ok {
		return u
	}
	return models.User{ID: id, FirstName: fmt.Sprintf("User%d", id), LanguageCode: "zh-hans"}
}

// chatArg resolves chat_id. The fake knows chats only by number: an
// @username answers "chat not found".
func (f *Fake) chatArgLocked(p Params) (*chatState, *apiError) {
	v, ok := p["chat_id"]
	if !ok || v == "" {
		return nil, badRequest("chat_id is empty")
	}
	id, isInt := v.(int64)
	if !isInt || id == 0 {
		return nil, badRequest("chat not found")
	}
	return f.chatLocked(id), nil
}

// writableLocked answers what the real API answers for a chat the bot can
// no longer use.
func writableLocked(cs *chatState) *apiError {
	if cs.migrateTo != 0 {
		return &apiError{Code: 400, Description: "Bad Request: group chat was migrated to a supergroup chat", MigrateTo: cs.migrateTo}
	}
	if !cs.blocked {
		return nil
	}
	switch cs.chat.Type {
	case models.ChatTypePrivate:
		return &apiError{Code: 403, Description: "Forbidden: bot was blocked by the user"}
	case models.ChatTypeSupergroup:
		return &apiError{Code: 403, Description: "Forbidden: bot was kicked from the supergroup chat"}
	case models.ChatTypeChannel:
		return &apiError{Code: 403, Description: "Forbidden: bot is not a member of the channel chat"}
	}
	return &apiError{Code: 403, Description: "Forbidden: bot was kicked from the group chat"}
}

// registerMessageLocked remembers a message (incoming or outgoing) so that
// it can be replied to, edited or deleted, and advances the chat's id
// sequence past it.
func (f *Fake) registerMessageLocked(m *models.Message) {
	if m == nil || m.ID == 0 {
		return
	}
	cs := f.chatLocked(m.Chat.ID)
	if _, ok := cs.msgs[m.ID]; !ok {
		cp := *m
		cs.msgs[m.ID] = &cp
	}
	cs.lastID = max(cs.lastID, m.ID)
	for _, ps := range m.Photo {
		f.registerPhotoLocked(ps, m.Photo)
	}
	f.registerMessageLocked(m.ReplyToMessage)
}

func (f *Fake) newBotMessageLocked(cs *chatState) *models.Message {
	cs.lastID++
	bu := f.botUser
	return &models.Message{
		ID:   cs.lastID,
		From: &bu,
		Date: int(f.now().Unix()),
		Chat: cs.chat,
	}
}

// shallowReply is how a replied-to message appears inside another: without
// its own reply_to_message, as in the real API.
func shallowReply(m *models.Message) *models.Message {
	cp := *m
	cp.ReplyToMessage = nil
	return &cp
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

var parseModes = setOf("", "Markdown", "MarkdownV2", "HTML")

// replyTargetLocked resolves reply_parameters or the legacy
// reply_to_message_id.
func (f *Fake) replyTargetLocked(cs *chatState, p Params) (*models.Message, int, *apiError) {
	id := int(p.Int("reply_to_message_id"))
	allow := p.Bool("allow_sending_without_reply")
	if rp, ok := p["reply_parameters"].(map[string]any); ok {
		id = int(Params(rp).Int("message_id"))
		allow = allow || Params(rp).Bool("allow_sending_without_reply")
	} else if p.Has("reply_parameters") {
		return nil, 0, badRequest("can't parse reply parameters JSON object")
	}
	if id == 0 {
		return nil, 0, nil
	}
	if m, ok := cs.msgs[id]; ok {
		return shallowReply(m), id, nil
	}
	if allow {
		return nil, 0, nil
	}
	return nil, 0, badRequest("message to be replied not found")
}

// markup is a validated reply_markup.
type markup struct {
	raw    any
	inline *models.InlineKeyboardMarkup
}

// parseMarkup validates reply_markup as the real API does for the parts a
// desk bot uses: inline keyboards (button actions, callback_data length,
// URLs), reply keyboards, keyboard removal and force reply.
func parseMarkup(p Params) (markup, *apiError) {
	v, ok := p["reply_markup"]
	if !ok {
		return markup{}, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return markup{}, badRequest("can't parse reply keyboard markup JSON object")
	}
	if rows, has := obj["inline_keyboard"]; has {
		rowList, ok := rows.([]any)
		if !ok {
			return markup{}, badRequest("can't parse inline keyboard: field \"inline_keyboard\" must be an Array")
		}
		for _, row := range rowList {
			buttons, ok := row.([]any)
			if !ok {
				return markup{}, badRequest("can't parse inline keyboard: row must be an Array")
			}
			for _, b := range buttons {
				btn, ok := b.(map[string]any)
				if !ok {
					return markup{}, badRequest("can't parse inline keyboard button: button must be an Object")
				}
				if e := checkInlineButton(btn); e != nil {
					return markup{}, e
				}
			}
		}
		var kb models.InlineKeyboardMarkup
		if err := json.Unmarshal(jsonOf(obj), &kb); err != nil {
			return markup{}, badRequest("can't parse inline keyboard: %v", err)
		}
		return markup{raw: obj, inline: &kb}, nil
	}
	if rows, has := obj["keyboard"]; has {
		if _, ok := rows.([]any); !ok {
			return markup{}, badRequest("can't parse keyboard: field \"keyboard\" must be an Array")
		}
		return markup{raw: obj}, nil
	}
	if obj["remove_keyboard"] == true || obj["force_reply"] == true {
		return markup{raw: obj}, nil
	}
	return markup{}, badRequest("can't parse reply keyboard markup JSON object")
}

var buttonActions = []string{"url", "callback_data", "web_app", "login_url",
	"switch_inline_query", "switch_inline_query_current_chat",
	"switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay"}

func checkInlineButton(btn map[string]any) *apiError {
	if text, _ := btn["text"].(string); text == "" {
		return badRequest("can't parse inline keyboard button: Text must be non-empty")
	}
	// go-telegram/bot marshals every button with "copy_text":{"text":""}
	// (a struct field, so omitempty does nothing) and the real API accepts
	// it: an empty copy_text is no action. Drop it so echoes look real.
	if ct, ok := btn["copy_text"].(map[string]any); ok {
		if t, _ := ct["text"].(string); t == "" {
			delete(btn, "copy_text")
		}
	}
	actions := 0
	for _, a := range buttonActions {
		if v, ok := btn[a]; ok && v != false {
			actions++
		}
	}
	if actions == 0 {
		return badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
	}
	if v, ok := btn["callback_data"]; ok {
		d, isString := v.(string)
		if !isString || len(d) < 1 || len(d) > 64 {
			return badRequest("BUTTON_DATA_INVALID")
		}
	}
	if v, ok := btn["url"]; ok {
		s, _ := v.(string)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tg") || (u.Scheme != "tg" && u.Host == "") {
			return badRequest("BUTTON_URL_INVALID")
		}
	}
	return nil
}

func (f *Fake) getMe(c *Call) (result, *apiError) {
	return result{Value: f.botUser}, nil
}

func (f *Fake) recordSentLocked(method string, m *models.Message, mk markup, parseMode string, replyTo int, upload *File) {
	s := &SentMessage{
		Method:      method,
		ChatID:      m.Chat.ID,
		MessageID:   m.ID,
		Text:        m.Text,
		Caption:     m.Caption,
		ParseMode:   parseMode,
		ReplyTo:     replyTo,
		ReplyMarkup: mk.raw,
		Upload:      upload,
		At:          f.now(),
	}
	if mk.inline != nil {
		s.InlineKeyboard = mk.inline.InlineKeyboard
	}
	if len(m.Photo) > 0 {
		s.Photo = m.Photo[len(m.Photo)-1].FileID
	}
	f.sent = append(f.sent, s)
	f.sentIndex[msgKey{m.Chat.ID, m.ID}] = s
}

func (f *Fake) sendMessage(c *Call) (result, *apiError) {
	p := c.Params
	cs, e := f.chatArgLocked(p)
	if e != nil {
		return result{}, e
	}
	text := p.Str("text")
	if strings.TrimSpace(text) == "" {
		return result{}, badRequest("message text is empty")
	}
	if utf16Len(text) > 4096 {
		return result{}, badRequest("message is too long")
	}
	if !parseModes[p.Str("parse_mode")] {
		return result{}, badRequest("unsupported parse_mode")
	}
	mk, e := parseMarkup(p)
	if e != nil {
		return result{}, e
	}
	if e := writableLocked(cs); e != nil {
		return result{}, e
	}
	reply, replyTo, e := f.replyTargetLocked(cs, p)
	if e != nil {
		return result{}, e
	}
	if e := f.checkRateLocked(cs); e != nil {
		return result{}, e
	}
	m := f.newBotMessageLocked(cs)
	m.Text = text
	m.ReplyToMessage = reply
	m.ReplyMarkup = mk.inline
	f.registerMessageLocked(m)
	f.recordSentLocked("sendMessage", m, mk, p.Str("parse_mode"), replyTo, nil)
	return result{Value: m}, nil
}

func (f *Fake) sendPhoto(c *Call) (result, *apiError) {
	p := c.Params
	cs, e := f.chatArgLocked(p)
	if e != nil {
		return result{}, e
	}
	ref := p.Str("photo")
	var upload *File
	field := "photo"
	if name, ok := strings.CutPrefix(ref, "attach://"); ok {
		field = name
	}
	if ref == "" || field != "photo" {
		for i := range c.Files {
			if c.Files[i].Field == field {
				upload = &c.Files[i]
				break
			}
		}
		if upload == nil {
			return result{}, badRequest("there is no photo in the request")
		}
	}
	caption := p.Str("caption")
	if utf16Len(caption) > 1024 {
		return result{}, badRequest("message caption is too long")
	}
	if !parseModes[p.Str("parse_mode")] {
		return result{}, badRequest("unsupported parse_mode")
	}
	mk, e := parseMarkup(p)
	if e != nil {
		return result{}, e
	}
	if e := writableLocked(cs); e != nil {
		return result{}, e
	}
	reply, replyTo, e := f.replyTargetLocked(cs, p)
	if e != nil {
		return result{}, e
	}
	// Decide where the photo comes from before the rate check, but store
	// nothing until the send is allowed.
	var sizes func() []models.PhotoSize
	switch {
	case upload != nil:
		cfg, _, err := image.DecodeConfig(bytes.NewReader(upload.Data))
		if err != nil {
			return result{}, badRequest("IMAGE_PROCESS_FAILED")
		}
		sizes = func() []models.PhotoSize { return f.uploadedPhotoLocked(upload.Data, cfg.Width, cfg.Height) }
	case f.photoSets[ref] != nil:
		sizes = func() []models.PhotoSize { return f.photoSets[ref] }
	case f.files[ref] != nil:
		sizes = func() []models.PhotoSize { return []models.PhotoSize{f.files[ref].photoSize()} }
	case strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://"):
		// The real API downloads the URL; the fake cannot, so it makes up
		// a photo of a typical size.
		sizes = func() []models.PhotoSize { return f.newPhotoSetLocked([][2]int{{90, 68}, {800, 600}}) }
	default:
		return result{}, badRequest("wrong file identifier/HTTP URL specified")
	}
	if e := f.checkRateLocked(cs); e != nil {
		return result{}, e
	}
	m := f.newBotMessageLocked(cs)
	m.Photo = sizes()
	m.Caption = caption
	m.ReplyToMessage = reply
	m.ReplyMarkup = mk.inline
	f.registerMessageLocked(m)
	f.recordSentLocked("sendPhoto", m, mk, p.Str("parse_mode"), replyTo, upload)
	return result{Value: m}, nil
}

// editTargetLocked finds the bot's own message named by chat_id and
// message_id.
func (f *Fake) editTargetLocked(p Params) (*chatState, *models.Message, *apiError) {
	cs, e := f.chatArgLocked(p)
	if e != nil {
		return nil, nil, e
	}
	id := int(p.Int("message_id"))
	if id == 0 {
		return nil, nil, badRequest("message identifier is not specified")
	}
	if e := writableLocked(cs); e != nil {
		return nil, nil, e
	}
	m, ok := cs.msgs[id]
	if !ok {
		return nil, nil, badRequest("message to edit not found")
	}
	if m.From == nil || m.From.ID != f.botUser.ID {
		return nil, nil, badRequest("message can't be edited")
	}
	return cs, m, nil
}

func sameMarkup(a, b *models.InlineKeyboardMarkup) bool {
	if a == nil || b == nil {
		return (a == nil || len(a.InlineKeyboard) == 0) && (b == nil || len(b.InlineKeyboard) == 0)
	}
	return reflect.DeepEqual(a, b)
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

func (f *Fake) editMessageText(c *Call) (result, *apiError) {
	p := c.Params
	text := p.Str("text")
	if p.Has("inline_message_id") && !p.Has("chat_id") {
		// Messages sent via inline mode are not modelled; accept the edit.
		if strings.TrimSpace(text) == "" {
			return result{}, badRequest("message text is empty")
		}
		return result{Value: true}, nil
	}
	_, m, e := f.editTargetLocked(p)
	if e != nil {
		return result{}, e
	}
	if strings.TrimSpace(text) == "" {
		return result{}, badRequest("message text is empty")
	}
	if utf16Len(text) > 4096 {
		return result{}, badRequest("message is too long")
	}
	if m.Text == "" {
		return result{}, badRequest("there is no text in the message to edit")
	}
	mk, e := parseMarkup(p)
	if e != nil {
		return result{}, e
	}
	if m.Text == text && sameMarkup(m.ReplyMarkup, mk.inline) {
		return result{}, badRequest(notModified)
	}
	m.Text = text
	m.ReplyMarkup = mk.inline
	m.EditDate = int(f.now().Unix())
	if s := f.sentIndex[msgKey{m.Chat.ID, m.ID}]; s != nil {
		s.Text = text
		s.ParseMode = p.Str("parse_mode")
		s.ReplyMarkup, s.InlineKeyboard = mk.raw, nil
		if mk.inline != nil {
			s.InlineKeyboard = mk.inline.InlineKeyboard
		}
		s.Edits++
	}
	cp := *m
	return result{Value: &cp}, nil
}

func (f *Fake) editMessageReplyMarkup(c *Call) (result, *apiError) {
	p := c.Params
	if p.Has("inline_message_id") && !p.Has("chat_id") {
		return result{Value: true}, nil
	}
	_, m, e := f.editTargetLocked(p)
	if e != nil {
		return result{}, e
	}
	mk, e := parseMarkup(p)
	if e != nil {
		return result{}, e
	}
	if sameMarkup(m.ReplyMarkup, mk.inline) {
		return result{}, badRequest(notModified)
	}
	m.ReplyMarkup = mk.inline
	m.EditDate = int(f.now().Unix())
	if s := f.sentIndex[msgKey{m.Chat.ID, m.ID}]; s != nil {
		s.ReplyMarkup, s.InlineKeyboard = mk.raw, nil
		if mk.inline != nil {
			s.InlineKeyboard = mk.inline.InlineKeyboard
		}
		s.Edits++
	}
	cp := *m
	return result{Value: &cp}, nil
}

func (f *Fake) deleteMessage(c *Call) (result, *apiError) {
	p := c.Params
	cs, e := f.chatArgLocked(p)
	if e != nil {
		return result{}, e
	}
	id := int(p.Int("message_id"))
	if id == 0 {
		return result{}, badRequest("message identifier is not specified")
	}
	if e := writableLocked(cs); e != nil {
		return result{}, e
	}
	m, ok := cs.msgs[id]
	if !ok {
		return result{}, badRequest("message to delete not found")
	}
	if f.now().Sub(time.Unix(int64(m.Date), 0)) > 48*time.Hour {
		return result{}, badRequest("message can't be deleted for everyone")
	}
	delete(cs.msgs, id)
	if s := f.sentIndex[msgKey{cs.chat.ID, id}]; s != nil {
		s.Deleted = true
	}
	return result{Value: true}, nil
}

func (f *Fake) answerCallbackQuery(c *Call) (result, *apiError) {
	id := c.Params.Str("callback_query_id")
	cb, ok := f.callbacks[id]
	if !ok || cb.answered {
		return result{}, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	if utf8.RuneCountInString(c.Params.Str("text")) > 200 {
		return result{}, badRequest("MESSAGE_TOO_LONG")
	}
	cb.answered = true
	return result{Value: true}, nil
}

func (f *Fake) getFile(c *Call) (result, *apiError) {
	sf, ok := f.files[c.Params.Str("file_id")]
	if !ok {
		return result{}, badRequest("invalid file_id")
	}
	if sf.size > 20<<20 {
		return result{}, badRequest("file is too big")
	}
	return result{Value: models.File{FileID: sf.id, FileUniqueID: sf.uniqueID, FileSize: sf.size, FilePath: sf.path}}, nil
}

var chatActions = setOf("typing", "upload_photo", "record_video", "upload_video",
	"record_voice", "upload_voice", "upload_document", "choose_sticker",
	"find_location", "record_video_note", "upload_video_note")

func (f *Fake) sendChatAction(c *Call) (result, *apiError) {
	cs, e := f.chatArgLocked(c.Params)
	if e != nil {
		return result{}, e
	}
	if !chatActions[c.Params.Str("action")] {
		return result{}, badRequest("wrong parameter action in request")
	}
	if e := writableLocked(cs); e != nil {
		return result{}, e
	}
	return result{Value: true}, nil
}

var commandScopes = setOf("default", "all_private_chats", "all_group_chats",
	"all_chat_administrators", "chat", "chat_administrators", "chat_member")

// commandKeyOf validates scope and language_code and returns the storage
// key of the command list they name.
func commandKeyOf(p Params) (string, *apiError) {
	scope := "default"
	if p.Has("scope") {
		obj, ok := p["scope"].(map[string]any)
		if !ok {
			return "", badRequest("can't parse BotCommandScope JSON object")
		}
		sp := Params(obj)
		scope = sp.Str("type")
		if !commandScopes[scope] {
			return "", badRequest("unsupported bot command scope type specified")
		}
		if strings.HasPrefix(scope, "chat") {
			if sp.Int("chat_id") == 0 {
				return "", badRequest("chat not found")
			}
			scope += ":" + sp.Str("chat_id")
		}
		if strings.HasPrefix(scope, "chat_member") {
			if sp.Int("user_id") == 0 {
				return "", badRequest("user not found")
			}
			scope += ":" + sp.Str("user_id")
		}
	}
	lang := p.Str("language_code")
	// TDLib accepts only "" or a two-letter lower-case ISO 639-1 code:
	// "zh" works, "zh-CN" or "zh-hans" do not.
	if lang != "" && (len(lang) != 2 || lang[0] < 'a' || lang[0] > 'z' || lang[1] < 'a' || lang[1] > 'z') {
		return "", badRequest("invalid language code specified")
	}
	return scope + "|" + lang, nil
}

// setMyCommands follows TDLib's set_commands: trim, drop one leading "/",
// check lengths in characters, then the server's character check
// (BOT_COMMAND_INVALID) once every command passed the local ones.
func (f *Fake) setMyCommands(c *Call) (result, *apiError) {
	p := c.Params
	if !p.Has("commands") {
		return result{}, badRequest("parameter \"commands\" is required")
	}
	list, ok := p["commands"].([]any)
	if !ok {
		return result{}, badRequest("can't parse commands JSON object")
	}
	key, e := commandKeyOf(p)
	if e != nil {
		return result{}, e
	}
	var cmds []models.BotCommand
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return result{}, badRequest("can't parse BotCommand JSON object")
		}
		cmd, _ := obj["command"].(string)
		desc, _ := obj["description"].(string)
		cmd = strings.TrimSpace(cmd)
		cmd = strings.TrimPrefix(cmd, "/")
		if cmd == "" {
			return result{}, badRequest("command must be non-empty")
		}
		if utf8.RuneCountInString(cmd) > 32 {
			return result{}, badRequest("command length must not exceed 32")
		}
		desc = strings.TrimSpace(desc)
		if desc == "" {
			return result{}, badRequest("command description must be non-empty")
		}
		if utf8.RuneCountInString(desc) > 256 {
			return result{}, badRequest("command description length must not exceed 256")
		}
		cmds = append(cmds, models.BotCommand{Command: cmd, Description: desc})
	}
	if len(cmds) > 100 {
		return result{}, badRequest("BOT_COMMANDS_TOO_MUCH")
	}
	for _, cmd := range cmds {
		for _, r := range cmd.Command {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				return result{}, badRequest("BOT_COMMAND_INVALID")
			}
		}
	}
	if len(cmds) == 0 {
		delete(f.commands, key)
	} else {
		f.commands[key] = cmds
	}
	return result{Value: true}, nil
}

func (f *Fake) getMyCommands(c *Call) (result, *apiError) {
	key, e := commandKeyOf(c.Params)
	if e != nil {
		return result{}, e
	}
	cmds := append([]models.BotCommand{}, f.commands[key]...)
	return result{Value: cmds}, nil
}

func (f *Fake) deleteMyCommands(c *Call) (result, *apiError) {
	key, e := commandKeyOf(c.Params)
	if e != nil {
		return result{}, e
	}
	delete(f.commands, key)
	return result{Value: true}, nil
}

func validSecretToken(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

func (f *Fake) setWebhook(c *Call) (result, *apiError) {
	p := c.Params
	raw := p.Str("url")
	if raw == "" {
		return f.deleteWebhookLocked(p.Bool("drop_pending_updates")), nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return result{}, badRequest("bad webhook: Failed to resolve host: Name or service not known")
	}
	if u.Scheme != "https" {
		return result{}, badRequest("bad webhook: An HTTPS URL must be provided for webhook")
	}
	switch u.Port() {
	case "", "80", "88", "443", "8443":
	default:
		return result{}, badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
	}
	secret := p.Str("secret_token")
	if len(secret) > 256 {
		return result{}, badRequest("secret token is too long")
	}
	if !validSecretToken(secret) {
		return result{}, badRequest("secret token contains unallowed characters")
	}
	mc := int(p.Int("max_connections"))
	if p.Has("max_connections") && (mc < 1 || mc > 100) {
		return result{}, badRequest("bad webhook: max_connections must be between 1 and 100")
	}
	var allowed []string
	if p.Has("allowed_updates") {
		allowed = stringList(p["allowed_updates"])
		f.allowed = allowed
	}
	if p.Bool("drop_pending_updates") {
		f.updates = nil
	}
	f.webhook = WebhookState{URL: raw, SecretToken: secret, MaxConnections: mc, AllowedUpdates: allowed, IPAddress: p.Str("ip_address")}
	return result{Value: true, Description: "Webhook was set"}, nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (f *Fake) deleteWebhookLocked(drop bool) result {
	if drop {
		f.updates = nil
	}
	if f.webhook.URL == "" {
		return result{Value: true, Description: "Webhook is already deleted"}
	}
	f.webhook = WebhookState{}
	return result{Value: true, Description: "Webhook was deleted"}
}

func (f *Fake) deleteWebhook(c *Call) (result, *apiError) {
	return f.deleteWebhookLocked(c.Params.Bool("drop_pending_updates")), nil
}

func (f *Fake) getWebhookInfo(c *Call) (result, *apiError) {
	return result{Value: models.WebhookInfo{
		URL:                f.webhook.URL,
		PendingUpdateCount: len(f.updates),
		MaxConnections:     f.webhook.MaxConnections,
		AllowedUpdates:     f.webhook.AllowedUpdates,
		IPAddress:          f.webhook.IPAddress,
	}}, nil
}
