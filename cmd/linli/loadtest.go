package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadtest is the hidden `linli loadtest wechat` command: it plays WeChat
// against a running `linli serve` from a separate process, sending signed
// plain-mode text messages at a fixed rate, and reports latency
// percentiles and the server's memory. It only talks to loopback
// addresses, and stops by itself after --duration.
//
//	linli loadtest wechat --config FILE [--rate 1000] [--duration 30s] [--users 500] [--pid PID]
//
// The server's config gives the URL (server.listen + wechat.path) and the
// token. Each simulated resident starts a report and then alternates between
// describing the problem and going back, so every message is a flow step
// with exactly one passive reply.
func loadtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "wechat" {
		fmt.Fprintln(stderr, "usage: linli loadtest wechat --config FILE [--rate N] [--duration D] [--users N] [--pid PID]")
		return 2
	}
	fs := flag.NewFlagSet("linli loadtest wechat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the server's config file")
	rate := fs.Int("rate", 1000, "messages per second")
	duration := fs.Duration("duration", 30*time.Second, "how long to send (at most 10m)")
	users := fs.Int("users", 500, "simulated residents")
	pid := fs.Int("pid", 0, "the server's process id, to report its memory (Linux)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *configPath == "" || *rate < 1 || *rate > 20000 || *duration <= 0 || *duration > 10*time.Minute || *users < 1 {
		fmt.Fprintln(stderr, "linli loadtest: --config is required; rate 1..20000, duration up to 10m, users ≥ 1")
		return 2
	}
	cfg, problems := loadConfig(*configPath, getenv)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return 1
	}
	if !cfg.WeChat.Enabled {
		fmt.Fprintln(stderr, "linli loadtest: wechat.enabled is false in", *configPath)
		return 1
	}
	host, _, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil || !isLoopback(host) {
		fmt.Fprintf(stderr, "linli loadtest: server.listen %q is not a loopback address; the load test only targets this machine\n", cfg.Server.Listen)
		return 1
	}
	target := "http://" + cfg.Server.Listen + cfg.WeChat.Path
	res, err := runLoad(ctx, loadSpec{target: target, token: cfg.WeChat.Token, rate: *rate, duration: *duration, users: *users, pid: *pid})
	if err != nil {
		fmt.Fprintln(stderr, "linli loadtest:", err)
		return 1
	}
	res.print(stdout)
	return 0
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type loadSpec struct {
	target   string
	token    string
	rate     int
	duration time.Duration
	users    int
	pid      int
}

type loadResult struct {
	sent, passive, success, failed int64
	refused                        int64 // of failed: 503, the server shed the message
	firstErr                       string
	lat                            []time.Duration
	// worst is the slowest answer to a request sent in each second of the
	// run: a spike every few seconds points at a periodic job, a bad
	// stretch at the machine or a backlog.
	worst       []time.Duration
	elapsed     time.Duration
	maxRSS, hwm int64 // KiB
	pid         int
	// loadBefore and loadAfter are the machine's load averages: figures
	// taken on a busy machine say little about the server.
	loadBefore, loadAfter string
}

func (r *loadResult) print(w io.Writer) {
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		i := int(p * float64(len(r.lat)-1))
		return r.lat[i]
	}
	fmt.Fprintf(w, "sent %d in %s (%.0f/s): %d passive replies, %d \"success\", %d failed (%d refused with 503)\n",
		r.sent, r.elapsed.Round(time.Millisecond), float64(r.sent)/r.elapsed.Seconds(), r.passive, r.success, r.failed, r.refused)
	if r.firstErr != "" {
		fmt.Fprintf(w, "first failure: %s\n", r.firstErr)
	}
	fmt.Fprintf(w, "latency p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50).Round(10*time.Microsecond),
		pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	if len(r.worst) > 0 {
		fmt.Fprint(w, "slowest answer per second sent (ms):")
		for _, d := range r.worst {
			fmt.Fprintf(w, " %.0f", float64(d)/float64(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	if r.pid != 0 {
		fmt.Fprintf(w, "server pid %d: max sampled RSS %.1f MiB, peak RSS (VmHWM) %.1f MiB\n", r.pid, float64(r.maxRSS)/1024, float64(r.hwm)/1024)
	}
	if r.loadBefore != "" {
		fmt.Fprintf(w, "machine load average (1, 5, 15 min): %s before, %s after\n", r.loadBefore, r.loadAfter)
	}
}

// loadAverage reads the machine's load averages (Linux), or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func loadSignature(token, ts, nonce string) string {
	parts := []string{token, ts, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// loadText is what simulated resident sends as its k-th message: "报修",
// consent (community.require_consent; it then handles the 报修), a
// category, then describing the problem and going back, over and over.
func loadText(k int) string {
	switch {
	case k == 0:
		return "报修"
	case k == 1:
		return "同意"
	case k == 2:
		return "1"
	case k%2 == 1:
		return "楼道灯坏了三天，晚上很黑"
	default:
		return "返回"
	}
}

func runLoad(ctx context.Context, s loadSpec) (*loadResult, error) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second,
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}
	defer client.CloseIdleConnections()
	total := int(int64(s.rate) * int64(s.duration) / int64(time.Second))
	interval := time.Second / time.Duration(s.rate)
	res := &loadResult{pid: s.pid, lat: make([]time.Duration, 0, total), loadBefore: loadAverage(),
		worst: make([]time.Duration, (s.duration+time.Second-1)/time.Second)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	seq := make([]int, s.users)
	baseID := time.Now().UnixNano() / 1000
	run := fmt.Sprintf("%x", time.Now().UnixNano()%0xffffff)

	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if s.pid != 0 {
				if rss, hwm, err := procMemory(s.pid); err == nil {
					mu.Lock()
					res.maxRSS, res.hwm = max(res.maxRSS, rss), max(res.hwm, hwm)
					mu.Unlock()
				}
			}
			select {
			case <-stopRSS:
				return
			case <-t.C:
			}
		}
	}()

	// Bound in-flight requests so a stalled server cannot make the load
	// generator itself run out of memory.
	inflight := make(chan struct{}, 4096)
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		u := i % s.users
		k := seq[u]
		seq[u]++
		body := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_load]]></ToUserName><FromUserName><![CDATA[load-%s-%d]]></FromUserName>"+
			"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>",
			run, u, time.Now().Unix(), loadText(k), baseID+int64(i))
		inflight <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			nonce := strconv.Itoa(i)
			q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {loadSignature(s.token, ts, nonce)}}
			t0 := time.Now()
			out, err := post(ctx, client, s.target+"?"+q.Encode(), body)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			res.sent++
			switch {
			case err != nil:
				res.failed++
				if errors.Is(err, errRefused) {
					res.refused++
				}
				if res.firstErr == "" {
					res.firstErr = err.Error()
				}
				return
			case out == "success":
				res.success++
			default:
				res.passive++
			}
			res.lat = append(res.lat, took)
			if sec := int(t0.Sub(start) / time.Second); sec >= 0 && sec < len(res.worst) {
				res.worst[sec] = max(res.worst[sec], took)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.loadAfter = loadAverage()
	close(stopRSS)
	<-rssDone
	sort.Slice(res.lat, func(a, b int) bool { return res.lat[a] < res.lat[b] })
	if res.sent == 0 {
		return nil, errors.New("nothing was sent")
	}
	return res, nil
}

// errRefused is a 503: the server had no room for the message.
var errRefused = errors.New("HTTP 503 (refused)")

func post(ctx context.Context, c *http.Client, u, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return "", fmt.Errorf("%w: %.100s", errRefused, b)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %.100s", resp.StatusCode, b)
	}
	if string(b) != "success" && !strings.HasPrefix(string(b), "<xml>") {
		return "", fmt.Errorf("unexpected answer %.100q", b)
	}
	return string(b), nil
}

// procMemory reads VmRSS and VmHWM (KiB) of a Linux process.
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if v, ok := strings.CutPrefix(line, k.name); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					*k.dst, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}
