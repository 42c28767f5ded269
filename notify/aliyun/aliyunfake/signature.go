package aliyunfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
)

// This file is deliberately independent of the SDK's signer: the fake must
// catch a signing bug in the SDK (or in how we drive it), so it recomputes
// Signature V1 from the published rules rather than calling the same code.
//
// The rules (Aliyun RPC "Signature V1"):
//  1. take every request parameter except Signature, from the query string
//     and the form body alike;
//  2. percent-encode names and values as RFC 3986 (unreserved A-Z a-z 0-9 - _ . ~
//     stay as they are, everything else becomes %XX of its UTF-8 bytes,
//     upper-case hex; so a space is %20, never +);
//  3. sort by encoded name, join as name=value with &;
//  4. StringToSign = METHOD & percentEncode("/") & percentEncode(step 3);
//  5. Signature = base64(HMAC-SHA1(secret + "&", StringToSign)).

// PercentEncode encodes s the way Signature V1 requires (RFC 3986, upper-case
// hex, UTF-8). It differs from url.QueryEscape in space (%20, not +) and in
// leaving only the four unreserved punctuation marks alone.
func PercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

// CanonicalQuery is step 3 of Signature V1: every parameter but Signature,
// encoded, sorted by name and joined.
func CanonicalQuery(params map[string]string) string {
	keys := make([]string, 0, len(params))
	enc := make(map[string]string, len(params))
	for k, v := range params {
		if k == "Signature" {
			continue
		}
		ek := PercentEncode(k)
		keys = append(keys, ek)
		enc[ek] = PercentEncode(v)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(enc[k])
	}
	return b.String()
}

// StringToSign is step 4 of Signature V1 for an HTTP method and the request's
// parameters.
func StringToSign(method string, params map[string]string) string {
	return strings.ToUpper(method) + "&" + PercentEncode("/") + "&" + PercentEncode(CanonicalQuery(params))
}

// Sign returns the Signature V1 value (base64, not URL-encoded) for a request.
func Sign(method string, params map[string]string, accessKeySecret string) string {
	mac := hmac.New(sha1.New, []byte(accessKeySecret+"&"))
	mac.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether the request's Signature parameter matches the one
// computed with accessKeySecret. The comparison is constant-time, as a real
// verifier's should be.
func Verify(method string, params map[string]string, accessKeySecret string) bool {
	got, err := base64.StdEncoding.DecodeString(params["Signature"])
	if err != nil {
		return false
	}
	want, _ := base64.StdEncoding.DecodeString(Sign(method, params, accessKeySecret))
	return hmac.Equal(got, want)
}
