package bot

import (
	"net"
	"net/http"
	"time"
)

// APIConns is how many idle connections a channel keeps to its platform's
// API. Replies to different residents go out at once (Telegram's runner per
// chat, WeChat's step workers, the outbox dispatcher), and
// http.DefaultTransport keeps two: under load every further call opened a
// TCP and TLS connection and closed it again.
const APIConns = 32

// NewAPIClient returns an HTTP client for a platform's API (not for long
// polls): every phase is bounded, so a hung connection cannot hold a
// resident's reply, a chat's queue or an outbox lease, and APIConns
// connections are kept. timeout bounds a whole call.
func NewAPIClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: min(10*time.Second, timeout),
			ForceAttemptHTTP2:     true,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          APIConns,
			MaxIdleConnsPerHost:   APIConns,
		},
	}
}
