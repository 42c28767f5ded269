package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// smsServerConfig is a config for a server that sends SMS through fake at
// the given rate and SendSms batch size, with no quiet hours (the test must
// not depend on the time of day) and a short lease so that a killed
// process's rows are taken over quickly.
func smsServerConfig(t testing.TB, dir string, fake *aliyunfake.Server, ratePerSecond, batch int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`community:
  name: 测试社区
  timezone: Asia/Shanghai
server:
  listen: %s
  dev_pages: false
store:
  path: %s
sms:
  provider: aliyun
  rate_per_second: %d
  batch_size: %d
  quiet_hours: ""
  inbound_secret: s3cret
  aliyun:
    access_key_id: %s
    access_key_secret: %s
    endpoint: %s
    scheme: %s
    sign_name: 测试社区
    templates:
      verify_code: SMS_100
      notice: SMS_200
schedule:
  dispatch_every: 1s
  lease: 2s
  broadcasts_every: 1s
staff:
  - {name: 王主任, role: admin}
categories:
  - {key: other, name: 其他, name_en: Other, target_hours: 24}
`, addr, filepath.Join(dir, "linli.db"), ratePerSecond, batch, aliyunfake.DefaultAccessKeyID, aliyunfake.DefaultAccessKeySecret,
		fake.Endpoint(), fake.Scheme())
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedBroadcast writes n residents with distinct mobile numbers and an SMS-only
// broadcast to everyone, due now, straight into the database file: the server
// finds the broadcast due when it starts. This is the documented way tests
// (and an import script) put residents in without a chat channel.
func seedBroadcast(t testing.TB, dbPath string, n int) []string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs := make([]store.NewResident, n)
	phones := make([]string, n)
	for i := range rs {
		phones[i] = fmt.Sprintf("139%08d", i)
		rs[i] = store.NewResident{Name: fmt.Sprintf("居民%d", i), Phone: phones[i]}
	}
	for len(rs) > 0 {
		k := min(len(rs), 10000)
		if _, err := st.ImportResidents(ctx, rs[:k]); err != nil {
			t.Fatal(err)
		}
		rs = rs[k:]
	}
	if _, err := st.CreateBroadcast(ctx, store.Broadcast{CreatedBy: "王主任", AudienceKind: "everyone", Text: "明天上午停水，请提前储水。",
		Policy: store.PolicySMSOnly, DueAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	return phones
}

// throttle answers a seeded tenth of the sends with Aliyun's API flow
// control, as a busy account sees it.
func throttle(fraction float64, seed uint64, count, lookups *atomic.Int64) aliyunfake.Option {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed+1))
	return aliyunfake.WithFault(func(c aliyunfake.Call) *aliyunfake.Fault {
		if c.Action == "QuerySendDetails" {
			lookups.Add(1)
		}
		if c.Action != "SendSms" && c.Action != "SendBatchSms" {
			return nil
		}
		mu.Lock()
		hit := rng.Float64() < fraction
		mu.Unlock()
		if hit {
			count.Add(1)
			return &aliyunfake.Fault{Code: "Throttling.User", Message: "Request was denied due to user flow control."}
		}
		return nil
	})
}

type server struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startBinary(t testing.TB, bin, cfg string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, "serve", "--config", cfg), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.cmd.Process.Kill() })
	return s
}

func (s *server) kill(t testing.TB) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("killed server did not exit")
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, limit time.Duration, s *server, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; server log:\n%s", what, tail(s.stderr.String(), 4000))
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited (%v) while waiting for %s; log:\n%s", err, what, tail(s.stderr.String(), 4000))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestBroadcastSurvivesKill9 sends a broadcast to 2,000 residents through
// the fake Aliyun with a tenth of the sends throttled, kills the server
// with SIGKILL three times during dispatch and restarts it each time: every
// resident gets exactly one SMS.
func TestBroadcastSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	const residents = 2000
	var throttled, lookups atomic.Int64
	fake := aliyunfake.NewServer(throttle(0.10, 42, &throttled, &lookups))
	defer fake.Close()
	bin := buildBinary(t)
	dir := t.TempDir()
	// 20 numbers per call at 20 calls a second: 100 calls over several
	// seconds, so the kills land in the middle of dispatch.
	cfg := smsServerConfig(t, dir, fake, 20, 20)
	phones := seedBroadcast(t, filepath.Join(dir, "linli.db"), residents)

	delivered := func() int { return len(fake.CountByPhone()) }
	srv := startBinary(t, bin, cfg)
	for i, at := range []int{300, 900, 1500} {
		waitFor(t, fmt.Sprintf("%d numbers before kill %d", at, i+1), 60*time.Second, srv, func() bool { return delivered() >= at })
		srv.kill(t)
		t.Logf("kill %d after %d numbers, %d records", i+1, delivered(), len(fake.Sent()))
		srv = startBinary(t, bin, cfg)
	}
	waitFor(t, "every number", 120*time.Second, srv, func() bool { return delivered() >= residents })

	// Let the last process settle its rows, then stop it cleanly and check
	// that nothing is left to send and nothing was sent twice.
	st, err := store.Open(context.Background(), filepath.Join(dir, "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, "the broadcast to finish", 60*time.Second, srv, func() bool {
		n, err := st.BroadcastCounts(context.Background(), 1)
		return err == nil && n[store.OutboxSent]+n[store.OutboxDelivered] == residents
	})
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done

	counts := fake.CountByPhone()
	for _, p := range phones {
		if counts[p] != 1 {
			t.Errorf("%s got %d SMS", p, counts[p])
		}
	}
	if len(counts) != residents {
		t.Errorf("%d numbers got SMS, want %d", len(counts), residents)
	}
	if throttled.Load() == 0 {
		t.Error("no send was throttled: the test did not exercise retries")
	}
	t.Logf("%d SMS accepted for %d residents; %d calls in all, %d throttled, %d reconciling look-ups",
		len(fake.Sent()), residents, fake.Calls(), throttled.Load(), lookups.Load())
}
