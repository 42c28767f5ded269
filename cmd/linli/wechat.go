package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"linli/bot"
	"linli/bot/wechat"
	"linli/store"
)

// wireWeChat adds the WeChat channel when it is enabled: the callback
// handler (mounted by routes) and the outbox sender.
func (a *app) wireWeChat() error {
	cfg := a.cfg.WeChat
	if !cfg.Enabled {
		return nil
	}
	api, err := wechat.NewClient(cfg, wechat.ClientOptions{Tokens: a.st, Logger: a.log})
	if err != nil {
		return err
	}
	a.disp.Register(bot.ChannelWeChat, wechat.NewSender(api, a.st, cfg.Templates, nil, a.log))
	a.wechat, err = wechat.NewHandler(cfg, wechat.HandlerOptions{Router: a.bot, Outbox: a.outbox, Deliveries: a.st, Logger: a.log})
	return err
}

// wechatCommand runs `linli wechat menu`: it installs the custom menu built
// from the config, using (and sharing) the access token in the database.
func wechatCommand(ctx context.Context, cfg Config, sub string, log *slog.Logger, stdout io.Writer) error {
	if sub != "menu" {
		return fmt.Errorf("unknown subcommand %q (want: menu)", sub)
	}
	if cfg.WeChat.AppID == "" || cfg.WeChat.AppSecret == "" {
		return errors.New("wechat.app_id and wechat.app_secret are needed to install the menu")
	}
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	api, err := wechat.NewClient(cfg.WeChat, wechat.ClientOptions{Tokens: st, Logger: log})
	if err != nil {
		return err
	}
	if err := api.CreateMenu(ctx, wechat.BuildMenu(cfg.Community.Language)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wechat menu installed")
	return nil
}
