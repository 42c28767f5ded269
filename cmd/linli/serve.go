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
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"linli/bot"
	"linli/bot/console"
	"linli/bot/telegram"
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
	// telegram is the Telegram channel when enabled.
	telegram *telegram.Channel
}

// newApp opens the database (migrating it) and wires the packages together.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, st: st, outbox: notify.NewOutbox(st)}
	a.engine, err = flows.New(st, cfg.flowsConfig(), flows.Options{Logger: log, Outbox: a.outbox})
	if err != nil {
		st.Close()
		return nil, err
	}
	a.bot = bot.New(st, a.engine, bot.Options{DefaultLang: cfg.Community.Language, Unavailable: flows.Unavailable, Logger: log})
	a.disp = notify.NewDispatcher(st, notify.LogSMS{Log: log}, log, nil)
	a.disp.RegisterPull(bot.ChannelWeb)
	a.disp.RegisterPull(bot.ChannelConsole)
	if cfg.Telegram.Enabled {
		a.telegram, err = telegram.New(cfg.Telegram, a.bot, telegram.Options{Logger: log, Marker: st,
			WebhookURL:    strings.TrimRight(cfg.Server.PublicURL, "/") + cfg.Telegram.WebhookPath,
			Commands:      telegramCommands(cfg.Community.Language, flows.ResidentCommands),
			StaffCommands: telegramCommands(cfg.Community.Language, flows.StaffCommands)})
		if err != nil {
			st.Close()
			return nil, err
		}
		a.disp.Register(bot.ChannelTelegram, a.telegram)
	}
	return a, nil
}

func (a *app) close() error { return a.st.Close() }

// routes is every HTTP endpoint of the server.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /metrics", promhttp.Handler())
	if a.telegram != nil && a.cfg.Telegram.Mode == "webhook" {
		mux.Handle(a.cfg.Telegram.WebhookPath, a.telegram) // it answers 405 to anything but POST
	}
	return bot.Guard(a.log, mux)
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
	var wg sync.WaitGroup
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.disp.Run(work, a.outbox, 5*time.Second)
	}()

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
		wg.Wait()
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down: finishing in-flight work")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	stopWork()
	wg.Wait()
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

// chat runs one resident's conversation in the terminal.
func chat(ctx context.Context, cfg Config, log *slog.Logger, name string, in io.Reader, out io.Writer) error {
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	s := console.Session{Handler: a.bot, Store: a.st, Name: name}
	return s.Run(ctx, in, out)
}
