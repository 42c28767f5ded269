package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// peakRSS reads the process's high-water resident set (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkServerBroadcast100k runs the built server on a database of
// 100,000 residents with a broadcast due, sending through the Aliyun fake at
// rate_per_second 50, and reports the server's peak RSS (target under
// 100 MB) and how long the whole broadcast took.
func BenchmarkServerBroadcast100k(b *testing.B) {
	const n = 100_000
	bin := buildBinary(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fake := aliyunfake.NewServer()
		dir := b.TempDir()
		cfg := smsServerConfig(b, dir, fake, 50, 1000)
		seedBroadcast(b, filepath.Join(dir, "linli.db"), n)
		st, err := store.Open(context.Background(), filepath.Join(dir, "linli.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		srv := startBinary(b, bin, cfg)
		peak := 0.0
		waitFor(b, "the broadcast", 10*time.Minute, srv, func() bool {
			peak = max(peak, peakRSS(srv.cmd.Process.Pid))
			c, err := st.BroadcastCounts(context.Background(), 1)
			return err == nil && c[store.OutboxSent] == n
		})
		took := time.Since(start)
		peak = max(peak, peakRSS(srv.cmd.Process.Pid))
		b.StopTimer()
		srv.cmd.Process.Signal(syscall.SIGTERM)
		<-srv.done
		st.Close()
		if got := len(fake.CountByPhone()); got != n {
			b.Fatalf("%d numbers got SMS", got)
		}
		fake.Close()
		b.ReportMetric(peak, "peak-rss-MiB")
		b.ReportMetric(took.Seconds(), "s-to-send-all")
		b.ReportMetric(float64(n)/took.Seconds(), "sms/s")
	}
}
