// Command linli is the message desk of a residential community office:
// residents report problems, book services and register for events over
// WeChat, Telegram, the web or SMS; staff answer from the same bot.
//
//	linli serve --config FILE
//	linli chat --config FILE [--as NAME]
//	linli check --config FILE
//	linli backup --config FILE --to PATH
//	linli export registrations --event ID --config FILE [--out FILE]
//	linli version
//	linli wechat menu --config FILE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	// The community's time zone must load on hosts without zoneinfo
	// (minimal images, no Go toolchain).
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

const usage = `usage:
  linli serve --config FILE          run the server, channels, scheduler and outbox
  linli chat --config FILE [--as NAME]  talk to linli in the terminal as resident NAME
  linli check --config FILE          validate a config file
  linli backup --config FILE --to PATH  copy the live database consistently
  linli export registrations --event ID --config FILE [--out FILE]
                                     write an event's roster as CSV (stdout by default)
  linli version                      print the version
  linli wechat menu --config FILE    install the WeChat custom menu
`

// run is main without the process: tests call it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd == "loadtest" {
		// Hidden: a load generator for operators and the README's load run.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return loadtest(ctx, rest, getenv, stdout, stderr)
	}
	sub := ""
	if cmd == "wechat" {
		if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
			fmt.Fprintf(stderr, "linli wechat: a subcommand is needed (menu)\n%s", usage)
			return 2
		}
		sub, rest = rest[0], rest[1:]
	}
	if cmd == "export" {
		if len(rest) == 0 || rest[0] != "registrations" {
			fmt.Fprintf(stderr, "linli export: what to export? (registrations)\n%s", usage)
			return 2
		}
		cmd, rest = "export registrations", rest[1:]
	}
	fs := flag.NewFlagSet("linli "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	as := "console"
	if cmd == "chat" {
		fs.StringVar(&as, "as", "console", "the resident's name in the terminal")
	}
	var backupTo string
	if cmd == "backup" {
		fs.StringVar(&backupTo, "to", "", "where to write the copy")
	}
	var eventRef, outPath string
	if cmd == "export registrations" {
		fs.StringVar(&eventRef, "event", "", "the event: its number (as in /event) or its config key")
		fs.StringVar(&outPath, "out", "", "write the CSV to this file instead of stdout")
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "linli", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve", "chat", "check", "backup", "wechat", "export registrations":
	default:
		fmt.Fprintf(stderr, "linli: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if *configPath == "" {
		// A missing config file: exit 1, like a file that is not there.
		fmt.Fprintf(stderr, "linli %s: --config FILE is required\n", cmd)
		return 1
	}
	if cmd == "backup" && backupTo == "" {
		fmt.Fprintln(stderr, "linli backup: --to PATH is required")
		return 2
	}
	if cmd == "export registrations" && eventRef == "" {
		fmt.Fprintf(stderr, "linli %s: --event ID is required\n", cmd)
		return 2
	}
	cfg, problems := loadConfig(*configPath, getenv)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return 1
	}
	if cmd == "check" {
		fmt.Fprintf(stdout, "%s: ok\n", *configPath)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		err = serve(ctx, cfg, log)
	case "chat":
		// The conversation is stdout; logs go to stderr, among them what the
		// log SMS provider "sends" (a verification code, a survey).
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		err = chat(ctx, cfg, log, as, stdin, stdout)
	case "backup":
		err = backup(ctx, cfg, backupTo)
		if err == nil {
			fmt.Fprintf(stdout, "backup written to %s\n", backupTo)
		}
	case "wechat":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		err = wechatCommand(ctx, cfg, sub, log, stdout)
	case "export registrations":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		err = exportRegistrations(ctx, cfg, log, eventRef, outPath, stdout)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "linli %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
