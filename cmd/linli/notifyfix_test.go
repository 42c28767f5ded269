package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// newTestApp wires an app from a config file body, on a database in a
// temporary directory.
func newTestApp(t *testing.T, body string) *app {
	t.Helper()
	cfg, problems := loadConfig(writeConfig(t, body), noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "linli.db")
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close() })
	return a
}

// TestHoldForReachesTheDispatcher: schedule.hold_for bounds how long a web
// chat resident's message waits for the page; 10 minutes unless set.
func TestHoldForReachesTheDispatcher(t *testing.T) {
	if a := newTestApp(t, exampleWith(t, "hold_for: 10m", "hold_for: 3m")); a.disp.HoldFor != 3*time.Minute {
		t.Fatalf("hold_for 3m gave %v", a.disp.HoldFor)
	}
	if a := newTestApp(t, exampleWith(t, "  hold_for: 10m", "  # hold_for left out")); a.disp.HoldFor != 10*time.Minute {
		t.Fatalf("default hold_for %v", a.disp.HoldFor)
	}
	body := exampleWith(t, "hold_for: 10m", "hold_for: -1m")
	_, problems := loadConfig(writeConfig(t, body), noEnv)
	if len(problems) != 1 || problems[0].Key != "schedule.hold_for" || problems[0].Line != lineOf(t, body, "hold_for: -1m") {
		t.Fatalf("problems %v", problems)
	}
}
