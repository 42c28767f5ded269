package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	sdkutil "github.com/silenceper/wechat/v2/util"
)

// WeChat's published vectors, from the "消息推送" / "消息加解密说明" guide
// (developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html,
// the same sample appears under doc/subscription/guide/dev/push/encryption.md).
const (
	vecToken     = "AAAAA"
	vecAESKey    = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	vecAppID     = "wxba5fad812f8e6fb9"
	vecTimestamp = "1714112445"
	vecNonce     = "415670741"
	vecMsgSig    = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
	vecEncrypt   = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	vecPlain     = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`

	// The guide's reply example: random prefix, body, timestamp and the
	// resulting Encrypt and MsgSignature.
	vecReplyRandom  = "707722b803182950"
	vecReplyPlain   = `{"demo_resp":"good luck"}`
	vecReplyTS      = "1713424427"
	vecReplyEncrypt = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
	vecReplySig     = "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
)

func vecCrypto(t testing.TB) *Crypto {
	t.Helper()
	c, err := NewCrypto(vecToken, vecAESKey, vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vecConfig(t testing.TB) ProtoConfig {
	t.Helper()
	return ProtoConfig{Token: vecToken, Crypto: vecCrypto(t)}
}

func TestVerifySignaturePublishedVector(t *testing.T) {
	if !VerifySignature("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696") {
		t.Fatal("published GET verification vector rejected")
	}
	for _, bad := range []string{"", "f464b24fc39322e44b38aa78f5edd27bd1441697", "f464b24f", "deadbeef"} {
		if VerifySignature("AAAAA", "1714036504", "1514711492", bad) {
			t.Errorf("signature %q accepted", bad)
		}
	}
	if VerifySignature("", "1714036504", "1514711492", signature("", "1714036504", "1514711492")) {
		t.Error("empty token must never verify")
	}
}

func TestVerifyEcho(t *testing.T) {
	q := url.Values{"signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "timestamp": {"1714036504"},
		"nonce": {"1514711492"}, "echostr": {"4375120948345356249"}}
	echo, ok := VerifyEcho(q, "AAAAA")
	if !ok || echo != "4375120948345356249" {
		t.Fatalf("VerifyEcho = %q, %v", echo, ok)
	}
	q.Set("signature", "0000")
	if _, ok := VerifyEcho(q, "AAAAA"); ok {
		t.Fatal("wrong signature accepted")
	}
}

func TestMsgSignaturePublishedVector(t *testing.T) {
	if got := MsgSignature(vecToken, vecTimestamp, vecNonce, vecEncrypt); got != vecMsgSig {
		t.Fatalf("MsgSignature = %s, want %s", got, vecMsgSig)
	}
	// The SDK computes the same thing; a mismatch would mean one of us sorts
	// differently.
	if got := sdkutil.Signature(vecToken, vecTimestamp, vecNonce, vecEncrypt); got != vecMsgSig {
		t.Fatalf("SDK Signature = %s", got)
	}
}

func TestDecryptPublishedVector(t *testing.T) {
	got, err := vecCrypto(t).Decrypt(vecEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != vecPlain || len(got) != 167 {
		t.Fatalf("Decrypt = %q (%d bytes)", got, len(got))
	}
}

func TestEncryptPublishedReplyVector(t *testing.T) {
	c := vecCrypto(t)
	c.rand = strings.NewReader(vecReplyRandom)
	out, err := c.Encrypt([]byte(vecReplyPlain), vecReplyTS, vecNonce)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Encrypt, MsgSignature, TimeStamp, Nonce string
	}
	if err := xml.Unmarshal(out, &env); err != nil {
		t.Fatalf("reply is not XML: %v\n%s", err, out)
	}
	if env.Encrypt != vecReplyEncrypt || env.MsgSignature != vecReplySig || env.TimeStamp != vecReplyTS || env.Nonce != vecNonce {
		t.Fatalf("reply envelope = %+v", env)
	}
}

func TestParseInboundPublishedSafeMode(t *testing.T) {
	q := url.Values{
		"signature": {"6c5c811b55cc85e0e1b54100749188c20beb3f5d"}, "timestamp": {vecTimestamp}, "nonce": {vecNonce},
		"openid": {"o9AgO5Kd5ggOC-bXrbNODIiE3bGY"}, "encrypt_type": {"aes"}, "msg_signature": {vecMsgSig},
	}
	bodies := map[string]string{
		"json": `{"ToUserName":"gh_97417a04a28d","Encrypt":"` + vecEncrypt + `"}`,
		"xml":  `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[` + vecEncrypt + `]]></Encrypt></xml>`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			in, err := ParseInbound([]byte(body), q, vecConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			want := Inbound{ToUserName: "gh_97417a04a28d", FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
				CreateTime: 1714112445, MsgType: "event", Event: "debug_demo",
				Mode: ModeSafe, Timestamp: vecTimestamp, Nonce: vecNonce}
			if *in != want {
				t.Fatalf("got %+v\nwant %+v", *in, want)
			}
		})
	}
	// The same request with the signature of another body is refused before
	// decryption.
	q.Set("msg_signature", MsgSignature(vecToken, vecTimestamp, vecNonce, "other"))
	if _, err := ParseInbound([]byte(bodies["json"]), q, vecConfig(t)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature", err)
	}
}

// --- an independent implementation of the envelope, for cross-checking ---

// refKey decodes an EncodingAESKey without touching the package's code.
func refKey(t testing.TB, encodingAESKey string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(k) != 32 {
		t.Fatalf("bad test key: %v", err)
	}
	return k
}

// refCBC runs AES-CBC block by block by hand, IV = key[:16].
func refCBC(t testing.TB, key, in []byte, decrypt bool) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(in)%16 != 0 {
		t.Fatalf("refCBC: %d bytes", len(in))
	}
	out := make([]byte, len(in))
	prev := append([]byte(nil), key[:16]...)
	for i := 0; i < len(in); i += 16 {
		blk := make([]byte, 16)
		if decrypt {
			b.Decrypt(blk, in[i:i+16])
			for j := range blk {
				blk[j] ^= prev[j]
			}
			prev = in[i : i+16]
		} else {
			for j := range blk {
				blk[j] = in[i+j] ^ prev[j]
			}
			b.Encrypt(blk, blk)
			prev = blk
		}
		copy(out[i:], blk)
	}
	return out
}

// refOpen decrypts an Encrypt value the way WeChat's documentation
// describes, returning the message and the appid suffix.
func refOpen(t testing.TB, encodingAESKey, enc string) (msg []byte, appID string) {
	t.Helper()
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("Encrypt is not base64: %v", err)
	}
	if len(ct)%32 != 0 {
		t.Fatalf("ciphertext %d bytes, not padded to 32", len(ct))
	}
	p := refCBC(t, refKey(t, encodingAESKey), ct, true)
	pad := int(p[len(p)-1])
	if pad < 1 || pad > 32 || !bytes.Equal(p[len(p)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		t.Fatalf("bad PKCS#7 padding %d", pad)
	}
	p = p[:len(p)-pad]
	n := int(binary.BigEndian.Uint32(p[16:20]))
	return p[20 : 20+n], string(p[20+n:])
}

// refSeal encrypts an arbitrary, already padded plaintext, so tests can
// build envelopes the package would never produce.
func refSeal(t testing.TB, encodingAESKey string, raw []byte) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(refCBC(t, refKey(t, encodingAESKey), raw, false))
}

// refFrame builds random|len|msg|appid with the given padding bytes.
func refFrame(msg []byte, declaredLen uint32, appID string, padding []byte) []byte {
	var b []byte
	b = append(b, "0123456789abcdef"...)
	b = binary.BigEndian.AppendUint32(b, declaredLen)
	b = append(b, msg...)
	b = append(b, appID...)
	return append(b, padding...)
}

func pkcs7(n int) []byte {
	pad := 32 - n%32
	return bytes.Repeat([]byte{byte(pad)}, pad)
}

func refSignature(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

func TestEncryptedReplyOpensIndependently(t *testing.T) {
	key := "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	c, err := NewCrypto("tok3n", key, "wx1234567890abcdef")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1714112500, 0)
	// Rendered replies, plus raw payloads of every length across two
	// padding blocks (n = 26 needs a full 32-byte block of padding).
	payloads := [][]byte{
		RenderText("oResident", "gh_office", "您的报修已受理，编号 R-0042。", now),
		RenderText("oResident", "gh_office", strings.Repeat("社区", 300), now),
		RenderImage("oResident", "gh_office", "MEDIA", now),
	}
	for n := 1; n <= 70; n++ {
		payloads = append(payloads, bytes.Repeat([]byte{'x'}, n))
	}
	for _, reply := range payloads {
		out, err := c.Encrypt(reply, "1714112500", "998877")
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Encrypt, MsgSignature, TimeStamp, Nonce string }
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatal(err)
		}
		if env.TimeStamp != "1714112500" || env.Nonce != "998877" {
			t.Fatalf("envelope %+v", env)
		}
		if want := refSignature("tok3n", env.TimeStamp, env.Nonce, env.Encrypt); env.MsgSignature != want {
			t.Fatalf("MsgSignature %s, independent %s", env.MsgSignature, want)
		}
		msg, appID := refOpen(t, key, env.Encrypt)
		if !bytes.Equal(msg, reply) || appID != "wx1234567890abcdef" {
			t.Fatalf("opened %q for %q", msg, appID)
		}
		// The SDK, a third implementation, agrees too.
		_, sdkMsg, err := sdkutil.DecryptMsg("wx1234567890abcdef", env.Encrypt, key)
		if err != nil || !bytes.Equal(sdkMsg, reply) {
			t.Fatalf("SDK DecryptMsg = %q, %v", sdkMsg, err)
		}
		// And our own Decrypt round-trips.
		back, err := c.Decrypt(env.Encrypt)
		if err != nil || !bytes.Equal(back, reply) {
			t.Fatalf("Decrypt = %q, %v", back, err)
		}
	}
}

func TestDecryptSDKCiphertext(t *testing.T) {
	enc, err := sdkutil.EncryptMsg([]byte("0123456789abcdef"), []byte("<xml>hi</xml>"), vecAppID, vecAESKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vecCrypto(t).Decrypt(string(enc))
	if err != nil || string(got) != "<xml>hi</xml>" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
}

func TestDecryptRejectsCorruptInput(t *testing.T) {
	c := vecCrypto(t)
	msg := []byte("<xml><MsgType>text</MsgType></xml>")
	good := refFrame(msg, uint32(len(msg)), vecAppID, nil)
	good = append(good, pkcs7(len(good))...)
	if got, err := c.Decrypt(refSeal(t, vecAESKey, good)); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("control case failed: %q, %v", got, err)
	}

	withPad := func(frame []byte, pad []byte) []byte { return append(append([]byte(nil), frame...), pad...) }
	frame := refFrame(msg, uint32(len(msg)), vecAppID, nil)
	n := len(frame) // 20 + 35 + 18 = 73, so proper padding is 23 bytes
	badLast := withPad(frame, pkcs7(n))
	badLast[len(badLast)-2] ^= 1 // one pad byte differs from the rest

	zeroPad := withPad(frame, make([]byte, 32-n%32))
	bigPad := withPad(frame, bytes.Repeat([]byte{33}, 32-n%32)) // 33 > block
	short := refFrame(nil, 0, "", nil)[:12]
	short = append(short, pkcs7(12)...) // 12 bytes of content: no length field
	longLen := refFrame(msg, uint32(len(msg))+100, vecAppID, nil)
	longLen = append(longLen, pkcs7(len(longLen))...)
	hugeLen := refFrame(msg, 0xFFFFFFFF, vecAppID, nil)
	hugeLen = append(hugeLen, pkcs7(len(hugeLen))...)
	noAppID := refFrame(msg, uint32(len(msg)), "", nil)
	noAppID = append(noAppID, pkcs7(len(noAppID))...)
	otherApp := refFrame(msg, uint32(len(msg)), "wx0000000000000000", nil)
	otherApp = append(otherApp, pkcs7(len(otherApp))...)
	// Everything decrypts fine but the whole plaintext is padding.
	allPad := bytes.Repeat([]byte{32}, 32)

	cases := []struct {
		name string
		enc  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not base64", "!!!not*base64!!!", ErrMalformed},
		{"one byte", base64.StdEncoding.EncodeToString([]byte{1}), ErrMalformed},
		{"not whole blocks", base64.StdEncoding.EncodeToString(make([]byte, 40)), ErrMalformed},
		{"truncated ciphertext", refSeal(t, vecAESKey, good)[:44], ErrMalformed},
		{"inconsistent padding", refSeal(t, vecAESKey, badLast), ErrMalformed},
		{"zero padding", refSeal(t, vecAESKey, zeroPad), ErrMalformed},
		{"padding over 32", refSeal(t, vecAESKey, bigPad), ErrMalformed},
		{"all padding", refSeal(t, vecAESKey, allPad), ErrMalformed},
		{"truncated plaintext", refSeal(t, vecAESKey, short), ErrMalformed},
		{"length past end", refSeal(t, vecAESKey, longLen), ErrMalformed},
		{"length 2^32-1", refSeal(t, vecAESKey, hugeLen), ErrMalformed},
		{"no appid", refSeal(t, vecAESKey, noAppID), ErrBadSignature},
		{"wrong appid", refSeal(t, vecAESKey, otherApp), ErrBadSignature},
		{"too large", strings.Repeat("A", MaxBodyBytes+4), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decrypt(tc.enc)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decrypt = %q, %v; want %v", got, err, tc.want)
			}
		})
	}
	// A key for another account opens to garbage, which must be an error.
	other, err := NewCrypto(vecToken, strings.Repeat("B", 43), vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(vecEncrypt); err == nil {
		t.Fatal("wrong key decrypted the vector")
	}
}

func TestNewCryptoValidates(t *testing.T) {
	for _, tc := range []struct{ token, key, app string }{
		{"", vecAESKey, vecAppID},
		{vecToken, vecAESKey[:42], vecAppID},
		{vecToken, vecAESKey + "A", vecAppID},
		{vecToken, strings.Repeat("*", 43), vecAppID},
		{vecToken, vecAESKey, ""},
	} {
		if _, err := NewCrypto(tc.token, tc.key, tc.app); err == nil {
			t.Errorf("NewCrypto(%q, %q, %q) accepted", tc.token, tc.key, tc.app)
		}
	}
	cfg, err := NewProtoConfig(vecToken, "", "")
	if err != nil || cfg.Crypto != nil {
		t.Fatalf("plain-only config: %+v, %v", cfg, err)
	}
}

func TestEncryptRefusesEmptyReply(t *testing.T) {
	c := vecCrypto(t)
	if _, err := c.Encrypt(nil, "1", "2"); !errors.Is(err, ErrEmptyReply) {
		t.Fatalf("err = %v", err)
	}
	in := &Inbound{Mode: ModeSafe, Nonce: "1"}
	if _, err := SealReply(in, nil, c, time.Unix(1, 0)); !errors.Is(err, ErrEmptyReply) {
		t.Fatalf("SealReply(nil) err = %v", err)
	}
	in.Mode = ModePlain
	if _, err := SealReply(in, []byte{}, nil, time.Unix(1, 0)); !errors.Is(err, ErrEmptyReply) {
		t.Fatalf("plain SealReply(empty) err = %v", err)
	}
}

// --- ParseInbound ---

const plainText = `<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[oResident1]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[楼道灯坏了 ]]]]><![CDATA[>]]></Content><MsgId>24529383471234567</MsgId></xml>`

func signedQuery(token, ts, nonce string) url.Values {
	return url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {signature(token, ts, nonce)}, "openid": {"oResident1"}}
}

func safeQuery(token, ts, nonce, enc string) url.Values {
	q := signedQuery(token, ts, nonce)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", MsgSignature(token, ts, nonce, enc))
	return q
}

func TestParseInboundPlainMessages(t *testing.T) {
	head := func(typ string) string {
		return `<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[oResident1]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[` + typ + `]]></MsgType>`
	}
	base := Inbound{ToUserName: "gh_office", FromUserName: "oResident1", CreateTime: 1714112445, Mode: ModePlain, Timestamp: "1714112445", Nonce: "42"}
	with := func(f func(*Inbound)) Inbound { in := base; f(&in); return in }
	cases := []struct {
		name string
		body string
		want Inbound
	}{
		{"text", plainText, with(func(in *Inbound) {
			in.MsgType, in.Content, in.MsgID = "text", "楼道灯坏了 ]]>", 24529383471234567
		})},
		{"image", head("image") + `<PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl><MediaId><![CDATA[media_1]]></MediaId><MsgId>101</MsgId></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.PicURL, in.MediaID, in.MsgID = "image", "http://mmbiz.qpic.cn/x.jpg", "media_1", 101
			})},
		{"voice", head("voice") + `<MediaId><![CDATA[media_2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[水管漏水]]></Recognition><MsgId>102</MsgId></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.MediaID, in.Format, in.Recognition, in.MsgID = "voice", "media_2", "amr", "水管漏水", 102
			})},
		{"video", head("video") + `<MediaId><![CDATA[m3]]></MediaId><ThumbMediaId><![CDATA[t3]]></ThumbMediaId><MsgId>103</MsgId></xml>`,
			with(func(in *Inbound) { in.MsgType, in.MediaID, in.ThumbMediaID, in.MsgID = "video", "m3", "t3", 103 })},
		{"location", head("location") + `<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[幸福小区3号楼]]></Label><MsgId>104</MsgId></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.LocationX, in.LocationY, in.Scale, in.Label, in.MsgID = "location", 23.134521, 113.358803, 20, "幸福小区3号楼", 104
			})},
		{"link", head("link") + `<Title><![CDATA[通知]]></Title><Description><![CDATA[停水]]></Description><Url><![CDATA[https://example.org/a]]></Url><MsgId>105</MsgId></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.Title, in.Description, in.URL, in.MsgID = "link", "通知", "停水", "https://example.org/a", 105
			})},
		{"subscribe qrscene", head("event") + `<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_building7]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.Event, in.EventKey, in.Ticket = "event", "subscribe", "qrscene_building7", "TICKET"
			})},
		{"click", head("event") + `<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[REPORT]]></EventKey></xml>`,
			with(func(in *Inbound) { in.MsgType, in.Event, in.EventKey = "event", "CLICK", "REPORT" })},
		{"location event", head("event") + `<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.Event, in.Latitude, in.Longitude, in.Precision = "event", "LOCATION", 23.137466, 113.352425, 119.38504
			})},
		{"template job finished", head("event") + `<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status></xml>`,
			with(func(in *Inbound) {
				in.MsgType, in.Event, in.TemplateMsgID, in.Status = "event", "TEMPLATESENDJOBFINISH", 200163836, "failed:user block"
			})},
		{"nested structures ignored", head("event") + `<Event><![CDATA[scancode_waitmsg]]></Event><EventKey><![CDATA[SCAN]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo></xml>`,
			with(func(in *Inbound) { in.MsgType, in.Event, in.EventKey = "event", "scancode_waitmsg", "SCAN" })},
		{"encrypt_type=raw", plainText, with(func(in *Inbound) {
			in.MsgType, in.Content, in.MsgID = "text", "楼道灯坏了 ]]>", 24529383471234567
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := signedQuery("tok", "1714112445", "42")
			if tc.name == "encrypt_type=raw" {
				q.Set("encrypt_type", "raw")
			}
			in, err := ParseInbound([]byte(tc.body), q, ProtoConfig{Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			if *in != tc.want {
				t.Fatalf("got  %+v\nwant %+v", *in, tc.want)
			}
		})
	}
}

func TestParseInboundCompatibleMode(t *testing.T) {
	c := vecCrypto(t)
	c.rand = strings.NewReader("0123456789abcdef")
	enc, err := c.seal([]byte(plainText))
	if err != nil {
		t.Fatal(err)
	}
	// The plain copy says something else: only the encrypted copy is
	// covered by msg_signature, so only it may be believed.
	body := `<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[oForged]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[forged]]></Content><MsgId>1</MsgId><Encrypt><![CDATA[` + enc + `]]></Encrypt></xml>`
	in, err := ParseInbound([]byte(body), safeQuery(vecToken, "1714112445", "7", enc), vecConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if in.Mode != ModeCompatible || in.FromUserName != "oResident1" || in.Content != "楼道灯坏了 ]]>" {
		t.Fatalf("got %+v", *in)
	}
}

func TestParseInboundRejects(t *testing.T) {
	cfg := vecConfig(t)
	c := vecCrypto(t)
	sealed := func(plain string) string {
		enc, err := c.seal([]byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	safeBody := func(enc string) string { return `<xml><Encrypt><![CDATA[` + enc + `]]></Encrypt></xml>` }
	goodEnc := sealed(plainText)
	helloEnc := sealed("hello")
	badB64 := "@@@@"
	garbageEnc := base64.StdEncoding.EncodeToString(make([]byte, 64)) // decrypts to noise

	otherApp, _ := NewCrypto(vecToken, vecAESKey, "wxOTHER")
	otherEnc, _ := otherApp.seal([]byte(plainText))

	ts, nonce := "1714112445", "42"
	cases := []struct {
		name string
		body string
		q    url.Values
		cfg  ProtoConfig
		want error
	}{
		{"no signature", plainText, url.Values{"timestamp": {ts}, "nonce": {nonce}}, cfg, ErrBadSignature},
		{"wrong token", plainText, signedQuery("other", ts, nonce), cfg, ErrBadSignature},
		{"signature of other nonce", plainText, func() url.Values { q := signedQuery(vecToken, ts, nonce); q.Set("nonce", "43"); return q }(), cfg, ErrBadSignature},
		{"malformed xml", `<xml><MsgType>text</MsgType`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"empty body", ``, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"wrong root", `<root><FromUserName>a</FromUserName><MsgType>text</MsgType></root>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"missing MsgType", `<xml><FromUserName>a</FromUserName></xml>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"non-numeric MsgId", `<xml><FromUserName>a</FromUserName><MsgType>text</MsgType><MsgId>12x</MsgId></xml>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"NaN coordinate", `<xml><FromUserName>a</FromUserName><MsgType>location</MsgType><Location_X>NaN</Location_X></xml>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><FromUserName>&e;</FromUserName><MsgType>text</MsgType></xml>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"GBK declaration", `<?xml version="1.0" encoding="GBK"?><xml><FromUserName>a</FromUserName><MsgType>text</MsgType></xml>`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"json object field", `{"FromUserName":{"a":1},"MsgType":"text"}`, signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"oversized body", "<xml>" + strings.Repeat(" ", MaxBodyBytes) + "</xml>", signedQuery(vecToken, ts, nonce), cfg, ErrMalformed},
		{"oversized nonce", plainText, signedQuery(vecToken, ts, strings.Repeat("9", 200)), cfg, ErrMalformed},
		{"unknown encrypt_type", plainText, func() url.Values { q := signedQuery(vecToken, ts, nonce); q.Set("encrypt_type", "des"); return q }(), cfg, ErrMalformed},
		{"aes without key", safeBody(goodEnc), safeQuery(vecToken, ts, nonce, goodEnc), ProtoConfig{Token: vecToken}, ErrNoKey},
		{"aes without msg_signature", safeBody(goodEnc), func() url.Values { q := safeQuery(vecToken, ts, nonce, goodEnc); q.Del("msg_signature"); return q }(), cfg, ErrBadSignature},
		{"aes with plain signature only", safeBody(goodEnc), func() url.Values {
			q := safeQuery(vecToken, ts, nonce, goodEnc)
			q.Set("msg_signature", q.Get("signature"))
			return q
		}(), cfg, ErrBadSignature},
		{"aes without Encrypt", plainText, safeQuery(vecToken, ts, nonce, ""), cfg, ErrMalformed},
		{"aes bad base64", safeBody(badB64), safeQuery(vecToken, ts, nonce, badB64), cfg, ErrMalformed},
		{"aes garbage ciphertext", safeBody(garbageEnc), safeQuery(vecToken, ts, nonce, garbageEnc), cfg, ErrMalformed},
		{"aes wrong appid", safeBody(otherEnc), safeQuery(vecToken, ts, nonce, otherEnc), cfg, ErrBadSignature},
		{"aes inner not a message", safeBody(helloEnc), safeQuery(vecToken, ts, nonce, helloEnc), cfg, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := ParseInbound([]byte(tc.body), tc.q, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseInbound = %+v, %v; want %v", in, err, tc.want)
			}
		})
	}
}

func TestParseInboundSkew(t *testing.T) {
	now := time.Unix(1714112445, 0)
	cfg := ProtoConfig{Token: "tok", MaxSkew: 5 * time.Minute, Now: func() time.Time { return now }}
	for ts, ok := range map[string]bool{"1714112445": true, "1714112145": true, "1714112144": false, "1714112746": false, "abc": false} {
		_, err := ParseInbound([]byte(plainText), signedQuery("tok", ts, "1"), cfg)
		if (err == nil) != ok {
			t.Errorf("timestamp %s: err = %v", ts, err)
		}
		if !ok && !errors.Is(err, ErrBadSignature) {
			t.Errorf("timestamp %s: err = %v, want ErrBadSignature", ts, err)
		}
	}
}

func TestParseInboundCryptoTokenMismatch(t *testing.T) {
	c := vecCrypto(t)
	enc, _ := c.seal([]byte(plainText))
	_, err := ParseInbound([]byte(`<xml><Encrypt>`+enc+`</Encrypt></xml>`), safeQuery("other", "1", "2", enc), ProtoConfig{Token: "other", Crypto: c})
	if err == nil || errors.Is(err, ErrBadSignature) || errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
}

func TestDedupeKey(t *testing.T) {
	msg := Inbound{FromUserName: "o1", CreateTime: 10, MsgType: "text", MsgID: 99}
	evt := Inbound{FromUserName: "o1", CreateTime: 10, MsgType: "event", Event: "CLICK"}
	// A redelivery of an event is known by sender and CreateTime alone (the
	// contract's key), whatever else the retry carries.
	if again := (Inbound{FromUserName: "o1", CreateTime: 10, MsgType: "event", Event: "VIEW"}); again.DedupeKey() != evt.DedupeKey() {
		t.Fatalf("event keys differ: %q %q", again.DedupeKey(), evt.DedupeKey())
	}
	if msg.DedupeKey() != "msg:99" || evt.DedupeKey() != "evt:o1:10" {
		t.Fatalf("keys %q %q", msg.DedupeKey(), evt.DedupeKey())
	}
}

// --- rendering ---

func TestRenderTextIsValidXMLForAnyText(t *testing.T) {
	now := time.Unix(1714112445, 0)
	texts := map[string]string{
		"plain":      "您好，已收到。",
		"cdata end":  "a]]>b]]]]>c<![CDATA[d",
		"markup":     `<xml>&amp; "'</xml>`,
		"newlines":   "第一行\n第二行\r\n\t缩进",
		"empty":      "",
		"only close": "]]>",
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			out := RenderText("oResident", "gh_office", text, now)
			var got struct {
				XMLName                           xml.Name `xml:"xml"`
				ToUserName, FromUserName, MsgType string
				CreateTime                        int64
				Content                           string
			}
			if err := xml.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := strings.ReplaceAll(text, "\r\n", "\n") // XML normalises line ends
			if got.Content != want || got.ToUserName != "oResident" || got.FromUserName != "gh_office" || got.MsgType != "text" || got.CreateTime != 1714112445 {
				t.Fatalf("round trip %+v from\n%s", got, out)
			}
		})
	}
	// Characters XML forbids are replaced, not passed through to break the
	// reply.
	out := RenderText("o", "g", "a\x00b\x1bc\xffd", now)
	var got struct{ Content string }
	if err := xml.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%q", err, out)
	}
	if got.Content != "a\uFFFDb\uFFFDc\uFFFDd" {
		t.Fatalf("Content = %q", got.Content)
	}
}

func TestRenderTextShape(t *testing.T) {
	got := string(RenderText("to", "from", "hi", time.Unix(12345678, 0)))
	want := `<xml><ToUserName><![CDATA[to]]></ToUserName><FromUserName><![CDATA[from]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRenderImage(t *testing.T) {
	got := string(RenderImage("to", "from", "MEDIA]]>ID", time.Unix(12345678, 0)))
	var v struct {
		MsgType string
		MediaID string `xml:"Image>MediaId"`
	}
	if err := xml.Unmarshal([]byte(got), &v); err != nil || v.MsgType != "image" || v.MediaID != "MEDIA]]>ID" {
		t.Fatalf("%+v %v\n%s", v, err, got)
	}
}

func TestSealReply(t *testing.T) {
	c := vecCrypto(t)
	now := time.Unix(1714112500, 0)
	reply := RenderText("oResident1", "gh_office", "收到", now)

	plain, err := SealReply(&Inbound{Mode: ModePlain}, reply, c, now)
	if err != nil || !bytes.Equal(plain, reply) {
		t.Fatalf("plain mode: %q, %v", plain, err)
	}
	for _, mode := range []Mode{ModeSafe, ModeCompatible} {
		out, err := SealReply(&Inbound{Mode: mode, Nonce: "415670741"}, reply, c, now)
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Encrypt, MsgSignature, TimeStamp, Nonce string }
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatal(err)
		}
		if env.Nonce != "415670741" || env.TimeStamp != "1714112500" || env.MsgSignature != refSignature(vecToken, env.TimeStamp, env.Nonce, env.Encrypt) {
			t.Fatalf("%v envelope %+v", mode, env)
		}
		if msg, app := refOpen(t, vecAESKey, env.Encrypt); !bytes.Equal(msg, reply) || app != vecAppID {
			t.Fatalf("opened %q %q", msg, app)
		}
	}
	// No nonce on the request (never seen, but cheap to survive): one is made.
	out, err := SealReply(&Inbound{Mode: ModeSafe}, reply, c, now)
	if err != nil || !bytes.Contains(out, []byte("<Nonce><![CDATA[")) {
		t.Fatalf("%s %v", out, err)
	}
	if _, err := SealReply(&Inbound{Mode: ModeSafe}, reply, nil, now); !errors.Is(err, ErrNoKey) {
		t.Fatalf("nil crypto: %v", err)
	}
}

func TestModeString(t *testing.T) {
	if ModePlain.String() != "plain" || ModeSafe.String() != "safe" || ModeCompatible.String() != "compatible" || Mode(9).String() != "Mode(9)" {
		t.Fatal("Mode.String")
	}
}
