package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T) (string, *app, func() error) {
	t.Helper()
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "linli.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serveOn(ctx, ln) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			a.close()
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return "http://" + ln.Addr().String(), a, stop
}

func TestServeHealthBodyLimitAndShutdown(t *testing.T) {
	base, a, stop := startServer(t)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]any
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["status"] != "ok" {
		t.Fatalf("healthz %d %v", resp.StatusCode, health)
	}
	resp, err = http.Post(base+"/healthz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %d", resp.StatusCode)
	}
	big := strings.NewReader(strings.Repeat("x", 2<<20))
	resp, err = http.Post(base+"/metrics", "text/plain", big)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("2 MiB body: %d", resp.StatusCode)
		}
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "go_goroutines") {
		t.Fatal("metrics not in Prometheus text format")
	}
	// The database going away turns health to 503.
	a.st.DB().Close()
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with a closed database: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
