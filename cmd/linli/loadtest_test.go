package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The load generator tells refusals (503) from other failures and from
// answers, and reports the machine's load average beside the figures.
func TestLoadCountsRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("nonce"))
		switch n % 3 {
		case 0:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 1:
			w.Write([]byte("success"))
		default:
			w.Write([]byte("<xml><Content>ok</Content></xml>"))
		}
	}))
	defer srv.Close()
	res, err := runLoad(context.Background(), loadSpec{target: srv.URL, token: "t", rate: 300, duration: 100 * time.Millisecond, users: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 30 || res.refused != 10 || res.failed != 10 || res.success != 10 || res.passive != 10 {
		t.Fatalf("sent %d refused %d failed %d success %d passive %d", res.sent, res.refused, res.failed, res.success, res.passive)
	}
	if len(res.worst) != 1 || res.worst[0] <= 0 {
		t.Fatalf("slowest per second: %v", res.worst)
	}
	var out bytes.Buffer
	res.print(&out)
	if !strings.Contains(out.String(), "(10 refused with 503)") || !strings.Contains(out.String(), "slowest answer per second") {
		t.Fatalf("report:\n%s", out.String())
	}
	if res.loadBefore != "" && !strings.Contains(out.String(), "machine load average") {
		t.Fatalf("load average not reported:\n%s", out.String())
	}
}
