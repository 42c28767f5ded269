package bot

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two rounds of 8 calls at once open 8 connections in all: the second
// round reuses the first's (http.DefaultTransport would keep 2 and open 6
// more). Every phase of a call is bounded.
func TestNewAPIClientKeepsConnections(t *testing.T) {
	const n = 8
	var opened atomic.Int64
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // all n calls are in flight at once
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewAPIClient(10 * time.Second)
	for round := 0; round < 2; round++ {
		arrived.Add(n)
		var done sync.WaitGroup
		for range n {
			done.Add(1)
			go func() {
				defer done.Done()
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					arrived.Done() // do not leave the others waiting
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		done.Wait()
	}
	if got := opened.Load(); got != n {
		t.Fatalf("%d connections opened for two rounds of %d calls", got, n)
	}
	tr := c.Transport.(*http.Transport)
	if c.Timeout <= 0 || tr.ResponseHeaderTimeout <= 0 || tr.TLSHandshakeTimeout <= 0 || tr.Proxy == nil {
		t.Fatalf("unbounded or without proxy: %+v %+v", c, tr)
	}
}
