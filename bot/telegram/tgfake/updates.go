package tgfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/go-telegram/bot/models"
)

type queuedUpdate struct {
	id   int64
	kind string // the update's field besides update_id: "message", "callback_query", …
	raw  json.RawMessage
}

// defaultExcluded are the update kinds the real API leaves out unless
// allowed_updates names them.
var defaultExcluded = setOf("chat_member", "message_reaction", "message_reaction_count")

// Push queues updates for getUpdates. An update with ID 0 gets the next
// update_id; the queue stays ordered by update_id. Messages, photos and
// callback queries in them become known to the fake (to reply to, edit,
// re-send or answer). The update is copied: changing it afterwards has no
// effect.
func (f *Fake) Push(updates ...models.Update) {
	raws := make([]json.RawMessage, len(updates))
	for i := range updates {
		u := updates[i]
		raws[i] = jsonOf(&u)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, raw := range raws {
		if err := f.pushLocked(raw, updates[i].ID); err != nil {
			panic(err) // it came from a models.Update, so it decodes
		}
	}
	f.notifyLocked()
}

// PushRaw queues one update given as JSON, for fields the models package
// lacks or malformed updates. update_id is assigned when missing or 0.
func (f *Fake) PushRaw(raw []byte) error {
	var probe struct {
		ID int64 `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("tgfake: push raw update: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.pushLocked(raw, probe.ID); err != nil {
		return err
	}
	f.notifyLocked()
	return nil
}

func (f *Fake) pushLocked(raw json.RawMessage, id int64) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("tgfake: push update: %w", err)
	}
	if id == 0 {
		f.nextUpdateID++
		id = f.nextUpdateID
		fields["update_id"] = json.RawMessage(strconv.FormatInt(id, 10))
		raw = jsonOf(fields)
	}
	f.nextUpdateID = max(f.nextUpdateID, id)
	kind := ""
	for k := range fields {
		if k != "update_id" {
			kind = k
			break
		}
	}
	var u models.Update
	if err := json.Unmarshal(raw, &u); err == nil {
		f.learnLocked(&u)
	}
	q := queuedUpdate{id: id, kind: kind, raw: append(json.RawMessage(nil), raw...)}
	i := sort.Search(len(f.updates), func(i int) bool { return f.updates[i].id > id })
	f.updates = slices.Insert(f.updates, i, q)
	return nil
}

// learnLocked remembers what an update shows of the world.
func (f *Fake) learnLocked(u *models.Update) {
	for _, m := range []*models.Message{u.Message, u.EditedMessage, u.ChannelPost, u.EditedChannelPost} {
		f.registerMessageLocked(m)
	}
	if cq := u.CallbackQuery; cq != nil {
		if _, ok := f.callbacks[cq.ID]; !ok && cq.ID != "" {
			f.callbacks[cq.ID] = &callbackState{}
		}
		f.registerMessageLocked(cq.Message.Message)
	}
}

func (f *Fake) nextUpdateIDLocked() int64 {
	f.nextUpdateID++
	return f.nextUpdateID
}

// incomingLocked builds a message from userID in chatID with the next id
// of the chat's sequence.
func (f *Fake) incomingLocked(chatID, userID int64) *models.Message {
	cs := f.chatLocked(chatID)
	cs.lastID++
	u := f.userLocked(userID)
	return &models.Message{ID: cs.lastID, From: &u, Date: int(f.now().Unix()), Chat: cs.chat}
}

// TextUpdate builds a text message update from userID in chatID (positive:
// private chat, negative: group), with bot_command entities for /commands
// as Telegram marks them (offsets in UTF-16 units). The message becomes
// known to the fake at once, so it works unpushed in webhook tests too.
func (f *Fake) TextUpdate(chatID, userID int64, text string) models.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.incomingLocked(chatID, userID)
	m.Text = text
	m.Entities = commandEntities(text)
	f.registerMessageLocked(m)
	return models.Update{ID: f.nextUpdateIDLocked(), Message: m}
}

// PhotoUpdate builds a photo message update with three sizes (90×68,
// 320×240, 800×600, smallest first as Telegram sends them), each a real
// JPEG the fake serves through getFile and the download URL.
func (f *Fake) PhotoUpdate(chatID, userID int64, caption string) models.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.incomingLocked(chatID, userID)
	m.Photo = f.newPhotoSetLocked([][2]int{{90, 68}, {320, 240}, {800, 600}})
	m.Caption = caption
	m.CaptionEntities = commandEntities(caption)
	f.registerMessageLocked(m)
	return models.Update{ID: f.nextUpdateIDLocked(), Message: m}
}

// LocationUpdate builds a location message update.
func (f *Fake) LocationUpdate(chatID, userID int64, latitude, longitude float64) models.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.incomingLocked(chatID, userID)
	m.Location = &models.Location{Latitude: latitude, Longitude: longitude}
	f.registerMessageLocked(m)
	return models.Update{ID: f.nextUpdateIDLocked(), Message: m}
}

// CallbackUpdate builds the update of userID pressing an inline button
// with callback data on message messageID in chatID. The query can be
// answered once with answerCallbackQuery.
func (f *Fake) CallbackUpdate(chatID, userID int64, messageID int, data string) models.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := f.chatLocked(chatID)
	m, ok := cs.msgs[messageID]
	if ok {
		m = shallowReply(m)
	} else {
		// An unknown message still decodes as an accessible one: the
		// library tells them apart by a non-zero date.
		bu := f.botUser
		m = &models.Message{ID: messageID, From: &bu, Date: int(f.now().Unix()), Chat: cs.chat}
	}
	f.nextCallback++
	id := strconv.FormatInt(f.botUser.ID*1_000_000+f.nextCallback, 10)
	f.callbacks[id] = &callbackState{}
	return models.Update{
		ID: f.nextUpdateIDLocked(),
		CallbackQuery: &models.CallbackQuery{
			ID:           id,
			From:         f.userLocked(userID),
			Message:      models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeMessage, Message: m},
			ChatInstance: strconv.FormatInt(-chatID*7919, 10),
			Data:         data,
		},
	}
}

// ReplyUpdate builds a text message from userID in chatID that replies to
// message replyToMessageID, as staff do when they answer an alert in the
// staff group.
func (f *Fake) ReplyUpdate(chatID, userID int64, replyToMessageID int, text string) models.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := f.chatLocked(chatID)
	target, ok := cs.msgs[replyToMessageID]
	if ok {
		target = shallowReply(target)
	} else {
		bu := f.botUser
		target = &models.Message{ID: replyToMessageID, From: &bu, Date: int(f.now().Unix()), Chat: cs.chat}
	}
	m := f.incomingLocked(chatID, userID)
	m.Text = text
	m.Entities = commandEntities(text)
	m.ReplyToMessage = target
	f.registerMessageLocked(m)
	return models.Update{ID: f.nextUpdateIDLocked(), Message: m}
}

// commandEntities marks "/command" and "/command@bot" where Telegram does:
// at the start or after a space, Latin letters, digits and underscores.
func commandEntities(text string) []models.MessageEntity {
	units := utf16.Encode([]rune(text))
	isWord := func(u uint16) bool {
		return u == '_' || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')
	}
	var out []models.MessageEntity
	for i := 0; i < len(units); i++ {
		if units[i] != '/' || (i > 0 && units[i-1] != ' ' && units[i-1] != '\n') {
			continue
		}
		j := i + 1
		for j < len(units) && isWord(units[j]) {
			j++
		}
		if j == i+1 {
			continue
		}
		if j < len(units) && units[j] == '@' {
			k := j + 1
			for k < len(units) && isWord(units[k]) {
				k++
			}
			if k > j+1 {
				j = k
			}
		}
		out = append(out, models.MessageEntity{Type: models.MessageEntityTypeBotCommand, Offset: i, Length: j - i})
		i = j - 1
	}
	return out
}

// beginPollLocked starts a getUpdates call: it refuses while a webhook is
// set, confirms (drops) the updates before offset, and makes this poll the
// current one; an older poll still waiting then ends with 409, as the real
// API ends it when a second instance polls.
func (f *Fake) beginPollLocked(c *Call) (uint64, *apiError) {
	p := c.Params
	if f.webhook.URL != "" {
		return 0, conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	}
	f.pollGen++
	if p.Has("allowed_updates") {
		// The real API remembers allowed_updates until changed.
		f.allowed = stringList(p["allowed_updates"])
	}
	offset := p.Int("offset")
	switch {
	case offset > 0:
		i := sort.Search(len(f.updates), func(i int) bool { return f.updates[i].id >= offset })
		f.updates = f.updates[i:]
	case offset < 0:
		f.updates = f.updates[max(0, len(f.updates)+int(offset)):]
	}
	return f.pollGen, nil
}

// waitPoll answers a getUpdates call as soon as an update is queued, or
// with [] when its timeout passes, the client goes away or the fake
// closes.
func (f *Fake) waitPoll(w http.ResponseWriter, r *http.Request, c *Call, gen uint64) {
	p := c.Params
	limit := int(p.Int("limit"))
	if limit < 1 || limit > 100 {
		limit = 100
	}
	var timer <-chan time.Time
	if timeout := time.Duration(max(p.Int("timeout"), 0)) * time.Second; timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	f.mu.Lock()
	for {
		var e *apiError
		switch {
		case f.webhook.URL != "":
			e = conflict("terminated by setWebhook request")
		case gen != f.pollGen:
			e = conflict("terminated by other getUpdates request; make sure that only one bot instance is running")
		}
		if e != nil {
			f.finishLocked(c, e)
			f.mu.Unlock()
			writeError(w, e)
			return
		}
		batch := f.deliverableLocked(limit)
		if len(batch) > 0 || timer == nil {
			f.finishLocked(c, nil)
			f.mu.Unlock()
			writeResult(w, result{Value: batch})
			return
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-timer:
			timer = nil
		case <-r.Context().Done():
			timer = nil
		case <-f.closed:
			timer = nil
		}
		f.mu.Lock()
	}
}

// deliverableLocked returns up to limit queued updates, dropping those
// allowed_updates excludes (the real API never delivers them).
func (f *Fake) deliverableLocked(limit int) []json.RawMessage {
	kept := f.updates[:0]
	var batch []json.RawMessage
	for _, q := range f.updates {
		if !f.allowedLocked(q.kind) {
			continue
		}
		kept = append(kept, q)
		if len(batch) < limit {
			batch = append(batch, q.raw)
		}
	}
	f.updates = kept
	if batch == nil {
		batch = []json.RawMessage{}
	}
	return batch
}

func (f *Fake) allowedLocked(kind string) bool {
	if len(f.allowed) == 0 {
		return !defaultExcluded[kind]
	}
	return slices.Contains(f.allowed, kind)
}
