package wechat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"linli/bot"
	"linli/store"
)

// Router handles one channel-neutral message; *bot.Bot satisfies it.
type Router interface {
	Handle(ctx context.Context, m bot.Message) ([]bot.Reply, error)
}

// Enqueuer stores outbox rows for the dispatcher; *notify.Outbox satisfies it.
type Enqueuer interface {
	Enqueue(ctx context.Context, rows ...store.OutboxRow) error
}

// DeliveryRecorder records template delivery reports; *store.Store satisfies it.
type DeliveryRecorder interface {
	RecordDelivery(ctx context.Context, provider, providerID string, delivered bool, detail string, at time.Time) (int64, error)
}

// KindChatReply is the outbox kind of a reply that missed the passive
// answer (a slow step, or the second and later replies of one step).
const KindChatReply = "chat_reply"

// Events the adapter reports besides bot's own (recorded, never answered).
const (
	EventView     = "view"     // a menu link was opened
	EventLocation = "location" // the resident's position, reported automatically
)

// HandlerOptions wire a Handler.
type HandlerOptions struct {
	Router     Router
	Outbox     Enqueuer
	Deliveries DeliveryRecorder
	Logger     *slog.Logger
	// Now is the clock of reply timestamps; nil means time.Now.
	Now func() time.Time
	// StepTimeout bounds one flow step run in the background after the
	// request has been answered; default 2 minutes.
	StepTimeout time.Duration
	// Retain is how long a finished step's passive reply is kept for
	// WeChat's retries (it retries 3 times, 5 s apart); default 20 s.
	Retain time.Duration
	// MaxSteps bounds the steps running at once; default 64.
	MaxSteps int
	// MaxWaiting bounds the messages waiting for a step; default 4096.
	// Beyond it, or when the steps starting now had waited longer than the
	// reply budget (the server is that far behind), the server is
	// overloaded: it answers 503 and stores nothing, and WeChat pushes the
	// message again. A short stall does not refuse anything: until steps
	// start again, only MaxWaiting counts.
	MaxWaiting int
}

// Handler is the http.Handler of the callback URL (wechat.path): GET for
// URL verification, POST for messages and events. Wrap it in bot.Guard.
type Handler struct {
	proto  ProtoConfig
	budget time.Duration
	scenes map[string]QRScene
	opt    HandlerOptions
	log    *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight
	// runs counts steps running in the background, for Drain.
	runs  sync.WaitGroup
	steps *stepPool
	// shed counts refused messages; shedLogged is when that was last logged.
	shed       atomic.Int64
	shedLogged atomic.Int64
}

// Drain waits until the steps still running in the background (those
// answered with "success") have finished and queued their replies, or ctx
// ends. Call it after the HTTP server has stopped accepting requests and
// before the store is closed.
func (h *Handler) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewHandler builds the callback handler for cfg.
func NewHandler(cfg Config, opt HandlerOptions) (*Handler, error) {
	if opt.Router == nil || opt.Outbox == nil {
		return nil, errors.New("wechat: handler needs a router and an outbox")
	}
	proto, err := NewProtoConfig(cfg.Token, cfg.EncodingAESKey, cfg.AppID)
	if err != nil {
		return nil, err
	}
	// A captured request replayed much later is refused; WeChat's own
	// retries come within seconds.
	proto.MaxSkew = 10 * time.Minute
	if opt.Now == nil {
		opt.Now = time.Now
	}
	proto.Now = opt.Now
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.StepTimeout <= 0 {
		opt.StepTimeout = 2 * time.Minute
	}
	if opt.Retain <= 0 {
		opt.Retain = 20 * time.Second
	}
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = 64
	}
	if opt.MaxWaiting <= 0 {
		opt.MaxWaiting = 4096
	}
	budget := cfg.ReplyBudget
	if budget <= 0 {
		budget = 4 * time.Second
	}
	scenes := map[string]QRScene{}
	for _, s := range cfg.QRScenes {
		scenes[s.Scene] = s
	}
	return &Handler{proto: proto, budget: budget, scenes: scenes, opt: opt, log: opt.Logger, flights: map[string]*flight{},
		steps: newStepPool(opt.MaxSteps, opt.MaxWaiting)}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		echo, ok := VerifyEcho(r.URL.Query(), h.proto.Token)
		if !ok {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(echo))
	case http.MethodPost:
		h.post(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	body, ok := bot.ReadBody(w, r, MaxBodyBytes)
	if !ok {
		return
	}
	in, err := ParseInbound(body, r.URL.Query(), h.proto)
	switch {
	case err == nil:
	case errors.Is(err, ErrBadSignature):
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	case errors.Is(err, ErrMalformed):
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	default:
		h.log.Error("wechat: request refused", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if in.MsgType == "event" && strings.EqualFold(in.Event, "TEMPLATESENDJOBFINISH") {
		h.templateFinished(r.Context(), in)
		writeSuccess(w)
		return
	}
	m := h.message(in)
	reply, ok := h.await(r.Context(), m)
	if !ok {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	h.write(w, in, reply)
}

// write answers with the passive reply, sealed as the request came, or the
// plain "success" when there is nothing to say (never an encrypted empty
// reply: WeChat shows that to the resident as an error).
func (h *Handler) write(w http.ResponseWriter, in *Inbound, reply bot.Reply) {
	plain := h.render(in, reply)
	if plain == nil {
		writeSuccess(w)
		return
	}
	out, err := SealReply(in, plain, h.proto.Crypto, h.opt.Now())
	if err != nil {
		h.log.Error("wechat: seal reply", "err", err)
		writeSuccess(w)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(out)
}

func writeSuccess(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("success"))
}

// render is a reply as passive XML, or nil for none. An image with a WeChat
// media id and no text goes as an image; anything else as text, choices
// numbered.
func (h *Handler) render(in *Inbound, r bot.Reply) []byte {
	now := h.opt.Now()
	if r.Image != nil && r.Image.Ref != "" && r.Text == "" && len(r.Choices) == 0 {
		return RenderImage(in.FromUserName, in.ToUserName, r.Image.Ref, now)
	}
	text := replyText(r)
	if text == "" {
		return nil
	}
	return RenderText(in.FromUserName, in.ToUserName, text, now)
}

func replyText(r bot.Reply) string {
	s := r.PlainText()
	if r.Image != nil && r.Image.URL != "" {
		if s != "" {
			s += "\n"
		}
		s += r.Image.URL
	}
	return s
}

// message maps an inbound WeChat message or event to bot's terms.
func (h *Handler) message(in *Inbound) bot.Message {
	m := bot.Message{
		Channel:   bot.ChannelWeChat,
		UserID:    in.FromUserName,
		DedupeKey: in.DedupeKey(),
		At:        time.Unix(in.CreateTime, 0),
	}
	if in.CreateTime <= 0 {
		m.At = h.opt.Now()
	}
	switch in.MsgType {
	case "text":
		m.Text = in.Content
	case "image":
		m.Image = &bot.Image{Ref: in.MediaID, URL: in.PicURL}
	case "voice":
		m.Voice, m.Text = true, in.Recognition
	case "location":
		m.Location = &bot.Location{Latitude: in.LocationX, Longitude: in.LocationY, Label: in.Label}
	case "link":
		m.Text = joinLines(in.Title, in.Description, in.URL)
	case "event":
		h.event(in, &m)
	default:
		// video, shortvideo, file…: nothing a flow can use; the engine
		// answers as to an empty message (the menu, or the step again).
	}
	return m
}

func (h *Handler) event(in *Inbound, m *bot.Message) {
	switch strings.ToLower(in.Event) {
	case "subscribe":
		m.Event = bot.EventSubscribe
		if scene, ok := strings.CutPrefix(in.EventKey, "qrscene_"); ok {
			h.scene(scene, m)
		}
	case "scan":
		m.Event = bot.EventStart
		h.scene(in.EventKey, m)
	case "unsubscribe":
		m.Event = bot.EventUnsubscribe
	case "click":
		m.Event, m.EventKey = bot.EventMenu, in.EventKey
	case "view":
		m.Event, m.EventKey = EventView, in.EventKey
	case "location":
		m.Event = EventLocation
		m.Location = &bot.Location{Latitude: in.Latitude, Longitude: in.Longitude}
	default:
		m.Event, m.EventKey = strings.ToLower(in.Event), in.EventKey
	}
}

// scene turns a configured QR code into the flow it starts, with its
// pre-filled data; an unknown scene starts nothing (the menu is shown).
func (h *Handler) scene(key string, m *bot.Message) {
	s, ok := h.scenes[key]
	if !ok {
		return
	}
	m.EventKey = s.Flow
	if s.Building != "" {
		m.Params = map[string]string{"building": s.Building}
	}
}

func joinLines(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n")
}

// templateFinished records a template message's delivery report against
// the outbox row that sent it.
func (h *Handler) templateFinished(ctx context.Context, in *Inbound) {
	if h.opt.Deliveries == nil || in.TemplateMsgID == 0 {
		return
	}
	ok := in.Status == "success"
	_, err := h.opt.Deliveries.RecordDelivery(ctx, bot.ChannelWeChat, "template:"+strconv.FormatInt(in.TemplateMsgID, 10), ok, in.Status, h.opt.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Warn("wechat: template delivery report", "err", err)
	}
}

// A flight is one inbound message being handled. WeChat gives up on a
// request after 5 s and sends it again (three more times), so the same
// message can have several requests waiting on it. The step runs once, in
// the background; the latest waiting request owns the answer. If the step
// finishes within the budget, that request answers passively with the
// first reply; otherwise it answers "success" and the replies go through
// the outbox as customer-service messages. A finished flight is kept a
// little while, so a retry of a request whose answer was lost on the way
// gets the same passive reply again (WeChat only retries what it did not
// receive).
type flight struct {
	mu       sync.Mutex
	done     chan struct{}
	finished bool
	replies  []bot.Reply
	latest   int        // number of the newest waiting request
	state    claimState // who delivers the replies
	shed     bool       // refused: the server was overloaded
}

type claimState int

const (
	unclaimed claimState = iota
	passive              // the first reply went passively, the rest through the outbox
	late                 // every reply goes through the outbox
	dropped              // a duplicate of a message handled elsewhere, or nothing to say
)

// join finds or starts the flight of m and registers the caller as its
// newest waiter.
func (h *Handler) join(m bot.Message) (*flight, int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.flights[m.DedupeKey]
	if !ok {
		f = &flight{done: make(chan struct{})}
		h.flights[m.DedupeKey] = f
	}
	f.mu.Lock()
	f.latest++
	n := f.latest
	f.mu.Unlock()
	return f, n, !ok
}

// await runs m (once) and returns the reply to give passively, if any. It
// reports false when the server is too far behind to take the message.
func (h *Handler) await(ctx context.Context, m bot.Message) (bot.Reply, bool) {
	f, me, first := h.join(m)
	if first {
		h.runs.Add(1)
		if !h.steps.submit(m.UserID, func() { h.run(ctx, f, m) }, h.budget) {
			h.runs.Done()
			h.refuse(m, f)
		}
	}
	timer := time.NewTimer(h.budget)
	defer timer.Stop()
	select {
	case <-f.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	f.mu.Lock()
	if f.shed {
		f.mu.Unlock()
		return bot.Reply{}, false
	}
	var rest []bot.Reply
	var reply bot.Reply
	switch {
	case f.finished && f.state == unclaimed && me == f.latest:
		if len(f.replies) == 0 {
			f.state = dropped
			break
		}
		f.state = passive
		reply, rest = f.replies[0], f.replies[1:]
		// Kept for WeChat's retries: only what they are answered with.
		f.replies = []bot.Reply{reply}
	case f.finished && f.state == passive && me == f.latest:
		reply = f.replies[0] // the earlier answer was lost: give it again
	case !f.finished && f.state == unclaimed && me == f.latest:
		f.state = late // run sends everything when it finishes
	}
	f.mu.Unlock()
	if len(rest) > 0 {
		h.enqueue(m, rest, 1)
	}
	return reply, true
}

// refuse gives up a message the server has no room for: its waiting
// requests answer 503 and it is forgotten at once, so that WeChat's next
// push of it is a new attempt. Nothing of it was stored.
func (h *Handler) refuse(m bot.Message, f *flight) {
	h.mu.Lock()
	if h.flights[m.DedupeKey] == f {
		delete(h.flights, m.DedupeKey)
	}
	h.mu.Unlock()
	f.mu.Lock()
	f.shed, f.finished = true, true
	close(f.done)
	f.mu.Unlock()
	n := h.shed.Add(1)
	// Logged at most every 10 s: an overload must not also flood the log.
	now := time.Now().Unix()
	if last := h.shedLogged.Load(); now-last >= 10 && h.shedLogged.CompareAndSwap(last, now) {
		h.log.Warn("wechat: overloaded, messages refused", "refused_total", n, "waiting", h.steps.backlog())
	}
}

// run handles the message in the background, detached from the request so
// that a slow step finishes after "success" was answered.
func (h *Handler) run(reqCtx context.Context, f *flight, m bot.Message) {
	defer h.runs.Done()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), h.opt.StepTimeout)
	defer cancel()
	replies, err := h.opt.Router.Handle(ctx, m)
	if err != nil && !errors.Is(err, bot.ErrDuplicate) {
		h.log.Error("wechat: message not handled", "err", err)
	}
	replies = splitLong(replies)
	f.mu.Lock()
	f.replies, f.finished = replies, true
	if errors.Is(err, bot.ErrDuplicate) {
		// Handled before (by another process, or before a restart): its
		// replies went out then.
		f.replies, f.state = nil, dropped
	}
	sendAll := f.state == late
	if sendAll {
		f.replies = nil // a retry finds the flight late: nothing to give it
	}
	close(f.done)
	f.mu.Unlock()
	if sendAll && len(replies) > 0 {
		h.enqueue(m, replies, 0)
	}
	// Only the key is kept until then: at 1000 messages a second the
	// retained flights were half of the server's live heap.
	key := m.DedupeKey
	time.AfterFunc(h.opt.Retain, func() {
		h.mu.Lock()
		if h.flights[key] == f {
			delete(h.flights, key)
		}
		h.mu.Unlock()
	})
}

// enqueue puts replies that missed the passive answer in the outbox, in
// order, keyed by the message so a repeat can never double them.
func (h *Handler) enqueue(m bot.Message, replies []bot.Reply, firstIndex int) {
	rows := make([]store.OutboxRow, 0, len(replies))
	for i, r := range replies {
		body := store.OutboxBody{Text: r.Text}
		for _, c := range r.Choices {
			body.Choices = append(body.Choices, store.OutboxChoice{Payload: c.Payload, Label: c.Label})
		}
		if r.Image != nil {
			body.ImageURL = r.Image.URL
		}
		rows = append(rows, store.OutboxRow{
			Kind: KindChatReply, TargetChannel: bot.ChannelWeChat, TargetAddress: m.UserID, Body: body, Urgent: true,
			DedupeKey: "wechat:" + m.DedupeKey + ":" + strconv.Itoa(firstIndex+i),
		})
	}
	// The request that triggered this may be gone; the rows must still be stored.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.opt.Outbox.Enqueue(ctx, rows...); err != nil {
		h.log.Error("wechat: replies not queued", "count", len(rows), "err", err)
	}
}
