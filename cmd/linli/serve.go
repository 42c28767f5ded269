package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"linli/bot"
	"linli/bot/console"
	"linli/bot/qr"
	"linli/bot/telegram"
	"linli/bot/webchat"
	"linli/bot/wechat"
	"linli/flows"
	"linli/notify"
	"linli/store"
)

// app is everything one process runs, wired from the config.
type app struct {
	cfg    Config
	log    *slog.Logger
	st     *store.Store
	outbox *notify.Outbox
	engine *flows.Engine
	bot    *bot.Bot
	disp   *notify.Dispatcher
	jobs   *flows.Jobs
	sched  *notify.Scheduler
	met    *metrics
	web    *webchat.Server
	wechat *wechat.Handler // nil unless the channel is enabled
	// telegram is the Telegram channel when enabled.
	telegram *telegram.Channel
}

// newApp opens the database (migrating it) and wires the packages together.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, st: st, outbox: notify.NewOutbox(st), met: newMetrics(st, log)}
	uploads := cfg.uploadDir()
	a.engine, err = flows.New(st, cfg.flowsConfig(), flows.Options{Logger: log, Outbox: a.outbox, Observer: a.met,
		RemoveUploads: func(tokens []string) error { return webchat.RemoveUploads(uploads, tokens) }})
	if err != nil {
		st.Close()
		return nil, err
	}
	a.bot = bot.New(st, a.engine, bot.Options{DefaultLang: cfg.Community.Language, Unavailable: flows.Unavailable, Logger: log, Observer: a.met})
	if err := a.wireNotify(); err != nil {
		st.Close()
		return nil, err
	}
	loc, _ := time.LoadLocation(cfg.Community.Timezone)
	a.web, err = webchat.New(ctx, webchat.Options{
		Store: st, Handler: a.bot, PublicURL: cfg.Server.PublicURL, SessionSecret: cfg.Server.SessionSecret,
		UploadDir: cfg.uploadDir(), DevPages: cfg.Server.DevPages, RealIPHeader: cfg.Server.RealIPHeader,
		Title: cfg.Community.Name, DefaultLang: cfg.Community.Language, Location: loc, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := a.wireWeChat(); err != nil {
		st.Close()
		return nil, err
	}
	if cfg.Telegram.Enabled {
		a.telegram, err = telegram.New(cfg.Telegram, a.bot, telegram.Options{Logger: log, Marker: st, Outbox: a.outbox, Identities: st, Progress: st,
			WebhookURL:    strings.TrimRight(cfg.Server.PublicURL, "/") + cfg.Telegram.WebhookPath,
			Commands:      telegramCommands(cfg.Community.Language, flows.ResidentCommands),
			StaffCommands: telegramCommands(cfg.Community.Language, flows.StaffCommands)})
		if err != nil {
			st.Close()
			return nil, err
		}
		a.disp.Register(bot.ChannelTelegram, a.telegram)
		if cfg.Telegram.StaffChatID != 0 {
			// The scheduler's staff alerts (escalations, the digest,
			// delivery failures) go to the staff group.
			a.disp.Register(notify.ChannelStaff, staffGroup{ch: a.telegram, chat: strconv.FormatInt(cfg.Telegram.StaffChatID, 10)})
		}
	}
	return a, nil
}

func (a *app) close() error { return a.st.Close() }

// routes is every HTTP endpoint of the server.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /metrics", a.met.handler())
	a.web.Register(mux)
	if a.wechat != nil {
		mux.Handle(a.cfg.WeChat.Path, a.wechat)
	}
	if a.telegram != nil && a.cfg.Telegram.Mode == "webhook" {
		mux.Handle(a.cfg.Telegram.WebhookPath, a.telegram) // it answers 405 to anything but POST
	}
	mux.Handle("GET /qr/{file}", qr.Handler())
	a.smsRoutes(mux)
	return a.met.countRejections(a.channelOf, bot.Guard(a.log, mux))
}

// channelOf names the channel an HTTP path belongs to, for metrics.
func (a *app) channelOf(path string) string {
	switch {
	case a.cfg.WeChat.Path != "" && strings.HasPrefix(path, a.cfg.WeChat.Path):
		return bot.ChannelWeChat
	case a.cfg.Telegram.WebhookPath != "" && strings.HasPrefix(path, a.cfg.Telegram.WebhookPath):
		return bot.ChannelTelegram
	case strings.HasPrefix(path, "/sms/"):
		return bot.ChannelSMS
	}
	return bot.ChannelWeb
}

func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := a.st.Ping(ctx); err != nil {
		a.log.Error("healthz: database", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "database": "down"})
		return
	}
	v, _ := a.st.SchemaVersion(ctx)
	json.NewEncoder(w).Encode(map[string]any{"status": "ok", "database": "ok", "schema": v, "version": versionString()})
}

// serve runs the HTTP server and the background work until ctx ends, then
// stops accepting, lets in-flight work finish and returns nil.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return a.serveOn(ctx, ln)
}

// serveOn serves on ln until ctx ends.
func (a *app) serveOn(ctx context.Context, ln net.Listener) error {
	log, cfg := a.log, a.cfg
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Waiting web chat polls return at once, so shutdown need not wait them out.
	srv.RegisterOnShutdown(a.web.Stop)
	var stopOnce sync.Once
	stopWork := func() {
		stopOnce.Do(func() {
			if err := a.sched.Stop(); err != nil {
				log.Warn("scheduler stop", "err", err)
			}
		})
	}
	defer stopWork()
	a.sched.Start()
	var wg sync.WaitGroup
	work, stopChannels := context.WithCancel(context.Background())
	defer func() { stopChannels(); wg.Wait() }()
	if a.telegram != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.telegram.Run(work)
		}()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("linli serving", "listen", ln.Addr().String(), "public_url", cfg.Server.PublicURL, "version", versionString())

	select {
	case <-ctx.Done():
	case err := <-errc:
		stopWork()
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down: finishing in-flight work")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	stopChannels() // Telegram polling ends after the update in hand
	wg.Wait()
	if a.wechat != nil {
		// Steps answered with "success" still run; their replies must reach
		// the outbox before the database closes.
		if err := a.wechat.Drain(shutdownCtx); err != nil {
			log.Warn("wechat: steps still running at shutdown", "err", err)
		}
	}
	stopWork()
	log.Info("stopped")
	return nil
}

// telegramCommands renders a command list for Telegram's menu: by default
// in the community's language, and in Chinese and English for users whose
// app is set to them.
func telegramCommands(community string, list func(lang string) []flows.Command) map[string][]telegram.Command {
	conv := func(lang string) []telegram.Command {
		var out []telegram.Command
		for _, c := range list(lang) {
			out = append(out, telegram.Command{Name: c.Name, Description: c.Description})
		}
		return out
	}
	return map[string][]telegram.Command{"": conv(community), "zh": conv(bot.LangZH), "en": conv(bot.LangEN)}
}

// staffGroup sends the scheduler's staff alerts to the Telegram staff group.
type staffGroup struct {
	ch   *telegram.Channel
	chat string
}

func (g staffGroup) Send(ctx context.Context, to notify.Recipient, body store.OutboxBody) (string, error) {
	return g.ch.Send(ctx, notify.Recipient{Channel: bot.ChannelTelegram, Address: g.chat, Lang: to.Lang}, body)
}

// chat runs one resident's conversation in the terminal.
func chat(ctx context.Context, cfg Config, log *slog.Logger, name string, in io.Reader, out io.Writer) error {
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	s := console.Session{Handler: a.bot, Store: a.st, Name: name, AfterTurn: func(ctx context.Context) {
		// The terminal has no scheduler; one dispatch pass per message sends
		// what the turn queued (SMS go to the log provider's log on stderr).
		if _, err := a.disp.RunOnce(ctx); err != nil {
			log.Warn("outbox dispatch", "err", err)
		}
	}}
	return s.Run(ctx, in, out)
}

// backup copies the live database (serve may be running) to path.
func backup(ctx context.Context, cfg Config, path string) error {
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Backup(ctx, path)
}
