package wechat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --- fuzzing ---

// fuzzConfig uses the published vector's credentials so the safe-mode seeds
// (including WeChat's own sample) get past msg_signature and exercise
// decryption.
func fuzzConfig(t testing.TB) ProtoConfig { return vecConfig(t) }

func FuzzParseInbound(f *testing.F) {
	// The checked-in corpus under testdata/fuzz/FuzzParseInbound holds one
	// seed per message shape; these two cover the extremes inline.
	f.Add([]byte(plainText), signedQuery(vecToken, "1714112445", "42").Encode())
	f.Add([]byte(`{"ToUserName":"gh_97417a04a28d","Encrypt":"`+vecEncrypt+`"}`),
		"timestamp="+vecTimestamp+"&nonce="+vecNonce+"&encrypt_type=aes&msg_signature="+vecMsgSig)
	cfg := fuzzConfig(f)
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		in, err := ParseInbound(body, q, cfg)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoKey) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if in.FromUserName == "" || in.MsgType == "" {
			t.Fatalf("accepted a message without sender or type: %+v", in)
		}
		// Whatever was accepted can be answered.
		reply := RenderText(in.FromUserName, in.ToUserName, in.Content, time.Unix(in.CreateTime, 0))
		var v struct{ Content string }
		if err := xml.Unmarshal(reply, &v); err != nil {
			t.Fatalf("reply to accepted message is not XML: %v\n%q", err, reply)
		}
		if _, err := SealReply(in, reply, cfg.Crypto, time.Unix(1, 0)); err != nil {
			t.Fatalf("SealReply: %v", err)
		}
	})
}

// FuzzOpenPlaintext reaches the padding and framing checks directly; random
// ciphertexts almost never get past the padding check.
func FuzzOpenPlaintext(f *testing.F) {
	msg := []byte("<xml/>")
	good := refFrame(msg, uint32(len(msg)), vecAppID, nil)
	f.Add(append(good, pkcs7(len(good))...))
	f.Add(bytes.Repeat([]byte{32}, 32))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, plain []byte) {
		got, err := openPlaintext(plain, vecAppID)
		if err != nil {
			return
		}
		if len(got) > len(plain) {
			t.Fatalf("message longer than plaintext")
		}
	})
}

// TestFuzzSeedsParse keeps the checked-in corpus meaningful: every seed must
// be a message ParseInbound accepts, so the fuzzer starts from valid input
// and mutates inward.
func TestFuzzSeedsParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseInbound", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 9 {
		t.Fatalf("only %d seeds", len(files))
	}
	for _, file := range files {
		body, rawQuery := readSeed(t, file)
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		in, err := ParseInbound(body, q, fuzzConfig(t))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		// Seed names start with the message type or event they carry.
		name := filepath.Base(file)
		if !strings.HasPrefix(name, strings.ToLower(in.MsgType)) && !strings.HasPrefix(name, strings.ToLower(in.Event)) &&
			!strings.HasPrefix(name, "safe") {
			t.Errorf("%s parsed as %s/%s", name, in.MsgType, in.Event)
		}
	}
}

// readSeed parses the "go test fuzz v1" format for ([]byte, string).
func readSeed(t *testing.T, file string) ([]byte, string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a two-value seed", file)
	}
	unq := func(s, prefix string) string {
		if !strings.HasPrefix(s, prefix+"(") || !strings.HasSuffix(s, ")") {
			t.Fatalf("%s: want %s(...), got %.40s", file, prefix, s)
		}
		v, err := strconv.Unquote(s[len(prefix)+1 : len(s)-1])
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return v
	}
	return []byte(unq(lines[1], "[]byte")), unq(lines[2], "string")
}
