package wechat

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzHandler sends arbitrary bodies and queries through the whole HTTP
// handler (bot.Guard, verification, parsing, the router on a real store):
// no input may panic, each gets one of the expected statuses, and a 200 is
// "success" or well-formed XML. The checked-in corpus under
// testdata/fuzz/FuzzHandler holds signed requests of every shape (plain,
// compatible and safe mode, events, a delivery report), so mutations start
// past the signature check.
func FuzzHandler(f *testing.F) {
	e := newHandlerEnv(f, func(_ *Config, o *HandlerOptions) { o.Retain = time.Millisecond })
	ts := "1777165200" // the test clock's time
	q := url.Values{"timestamp": {ts}, "nonce": {"42"}, "signature": {refSignature(hToken, ts, "42")}}
	f.Add("POST", []byte(xmlMsg("oF", 1777165200, "text", "Content", "报修", "MsgId", "1")), q.Encode())
	f.Fuzz(func(t *testing.T, method string, body []byte, rawQuery string) {
		if method != http.MethodGet {
			method = http.MethodPost
		}
		req := httptest.NewRequest(method, "/wechat", strings.NewReader(string(body)))
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			out := rec.Body.String()
			if method == http.MethodPost && out != "success" {
				var v struct{ XMLName xml.Name }
				if err := xml.Unmarshal([]byte(out), &v); err != nil || v.XMLName.Local != "xml" {
					t.Fatalf("200 with %q", out)
				}
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
