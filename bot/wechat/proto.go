// Package wechat speaks the WeChat Official Account callback protocol:
// signature checks, the AES "safe mode" envelope, inbound message parsing
// and passive reply rendering.
//
// It deliberately uses only the standard library. The silenceper/wechat SDK
// (v2.1.10) was read as a reference, but its server package logs every
// request body at debug level through the global logrus logger (and the SDK
// root package's init turns that logger to debug on stdout), compares
// signatures with ==, panics from Render when writing the response fails,
// parses the timestamp as a 32-bit number, and in safe mode encrypts an
// empty reply. Its util.DecryptMsg survives bad input only by recover()
// and does not check every padding byte. None of that belongs in a desk
// that handles residents' messages; the SDK's util package serves the tests
// as a second opinion.
//
// Configure the account's message format as XML. JSON bodies are understood
// (WeChat's published safe-mode sample is JSON), but replies are always XML.
package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what WeChat can plausibly send. Real messages are a few KiB at
// most (a text message is capped at about 2 KiB before encryption); anything
// far larger is an attack or a bug and is refused before any parsing.
const (
	// MaxBodyBytes is the largest request body ParseInbound accepts. The
	// HTTP handler should also wrap the body in http.MaxBytesReader with
	// this limit so the bytes are never read into memory at all.
	MaxBodyBytes = 64 << 10
	// maxQueryValue bounds timestamp, nonce and signature parameters.
	maxQueryValue = 128
)

// Errors the caller must act on. They are wrapped with detail; test with
// errors.Is.
var (
	// ErrBadSignature means the request is not provably from WeChat (missing
	// or wrong signature or msg_signature, a timestamp outside the allowed
	// skew, or a ciphertext for another AppID). Answer 403 and store nothing.
	ErrBadSignature = errors.New("wechat: bad signature")
	// ErrMalformed means the request cannot be understood: bad XML or JSON,
	// bad base64, bad padding, truncated plaintext, absurd sizes, missing
	// required fields. Answer 400; WeChat's retries will fail the same way.
	ErrMalformed = errors.New("wechat: malformed message")
	// ErrNoKey means an encrypted request arrived but no EncodingAESKey is
	// configured: a configuration error, not the sender's fault.
	ErrNoKey = errors.New("wechat: encrypted request but no EncodingAESKey configured")
	// ErrEmptyReply is returned when asked to encrypt an empty reply. In safe
	// mode an encrypted empty string makes WeChat show the resident "this
	// account cannot provide service"; the caller must write the plain
	// string "success" (unencrypted) instead.
	ErrEmptyReply = errors.New("wechat: empty reply must be answered with plain \"success\", not encrypted")
)

// signature is WeChat's sha1 over the lexically sorted, concatenated parts.
func signature(parts ...string) string {
	sort.Strings(parts)
	h := sha1.New()
	for _, p := range parts {
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// equalConstantTime compares without leaking where the first difference is,
// so a signature cannot be guessed byte by byte from response timing.
func equalConstantTime(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// VerifySignature checks the plain-mode signature WeChat puts on every
// callback URL: sha1 of the sorted token, timestamp and nonce.
func VerifySignature(token, timestamp, nonce, sig string) bool {
	if token == "" || sig == "" {
		return false
	}
	return equalConstantTime(signature(token, timestamp, nonce), strings.ToLower(sig))
}

// MsgSignature computes the safe-mode msg_signature: sha1 of the sorted
// token, timestamp, nonce and Encrypt value.
func MsgSignature(token, timestamp, nonce, encrypt string) string {
	return signature(token, timestamp, nonce, encrypt)
}

// VerifyEcho handles the GET that WeChat sends when the server URL is saved
// in the console. It returns the echostr to write back as the whole body
// when the signature is right. The Official Account echostr is plain in
// every mode (unlike WeCom, whose echostr is encrypted).
func VerifyEcho(q url.Values, token string) (echostr string, ok bool) {
	if !VerifySignature(token, q.Get("timestamp"), q.Get("nonce"), q.Get("signature")) {
		return "", false
	}
	return q.Get("echostr"), true
}

// Crypto seals and opens the safe-mode envelope: AES-256-CBC with the key
// from EncodingAESKey, IV = first 16 key bytes, plaintext =
// random(16) | len(4, big endian) | msg | appID, PKCS#7-padded to 32 bytes.
// A Crypto is safe for concurrent use.
type Crypto struct {
	token string
	appID string
	key   []byte
	block cipher.Block
	// rand supplies the 16 random prefix bytes; tests replace it to
	// reproduce WeChat's published reply vector.
	rand io.Reader
}

// pkcs7Block is WeChat's padding block size: 32, not AES's 16.
const pkcs7Block = 32

// NewCrypto builds a Crypto from the console's Token, 43-character
// EncodingAESKey and the account's AppID.
func NewCrypto(token, encodingAESKey, appID string) (*Crypto, error) {
	if token == "" {
		return nil, errors.New("wechat: token is empty")
	}
	if appID == "" {
		return nil, errors.New("wechat: appID is empty")
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wechat: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("wechat: EncodingAESKey is not valid base64 for a 32-byte key")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	return &Crypto{token: token, appID: appID, key: key, block: block, rand: rand.Reader}, nil
}

// Decrypt opens a base64 Encrypt value and returns the message inside. It
// checks sizes, PKCS#7 padding (every pad byte), the embedded length and the
// AppID; corrupt input yields an error wrapping ErrMalformed (or
// ErrBadSignature for another account's AppID), never a panic. It does not
// check msg_signature: ParseInbound does that before decrypting.
func (c *Crypto) Decrypt(encryptB64 string) ([]byte, error) {
	if len(encryptB64) == 0 || len(encryptB64) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: Encrypt of %d bytes", ErrMalformed, len(encryptB64))
	}
	ct, err := base64.StdEncoding.DecodeString(encryptB64)
	if err != nil {
		return nil, fmt.Errorf("%w: Encrypt is not base64", ErrMalformed)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is not whole AES blocks", ErrMalformed, len(ct))
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(plain, ct)
	return openPlaintext(plain, c.appID)
}

// openPlaintext undoes the padding and framing of a decrypted envelope.
// Split out so the fuzzer can reach it without forging ciphertexts.
func openPlaintext(plain []byte, appID string) ([]byte, error) {
	n := len(plain)
	if n == 0 {
		return nil, fmt.Errorf("%w: empty plaintext", ErrMalformed)
	}
	pad := int(plain[n-1])
	if pad < 1 || pad > pkcs7Block || pad > n {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	for _, b := range plain[n-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
		}
	}
	plain = plain[:n-pad]
	if len(plain) < 20 {
		return nil, fmt.Errorf("%w: plaintext too short", ErrMalformed)
	}
	// Compare in uint64 so a length near 2^32 cannot overflow int on 32-bit
	// platforms and slip past the bound.
	msgLen := uint64(binary.BigEndian.Uint32(plain[16:20]))
	if msgLen > uint64(len(plain)-20) {
		return nil, fmt.Errorf("%w: message length %d exceeds plaintext", ErrMalformed, msgLen)
	}
	end := 20 + int(msgLen)
	if string(plain[end:]) != appID {
		return nil, fmt.Errorf("%w: ciphertext is for another AppID", ErrBadSignature)
	}
	// Copy so the caller does not pin the whole decryption buffer.
	return bytes.Clone(plain[20:end]), nil
}

// seal encrypts plain into the base64 Encrypt value.
func (c *Crypto) seal(plain []byte) (string, error) {
	content := 20 + len(plain) + len(c.appID)
	pad := pkcs7Block - content%pkcs7Block
	buf := make([]byte, content+pad)
	if _, err := io.ReadFull(c.rand, buf[:16]); err != nil {
		return "", fmt.Errorf("wechat: random prefix: %w", err)
	}
	binary.BigEndian.PutUint32(buf[16:20], uint32(len(plain)))
	copy(buf[20:], plain)
	copy(buf[20+len(plain):], c.appID)
	for i := content; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// encryptedReply is the safe-mode passive reply envelope.
type encryptedReply struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      cdata    `xml:"Encrypt"`
	MsgSignature cdata    `xml:"MsgSignature"`
	TimeStamp    string   `xml:"TimeStamp"`
	Nonce        cdata    `xml:"Nonce"`
}

// Encrypt seals a rendered passive reply (RenderText, RenderImage) and
// returns the complete body to write:
// <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
// Use the request's nonce and the current unix time as timestamp.
//
// An empty plain returns ErrEmptyReply: when there is nothing to say the
// caller writes the plain string "success" itself. (The SDK encrypts the
// empty string here, which WeChat shows the resident as an error.)
func (c *Crypto) Encrypt(plain []byte, timestamp, nonce string) ([]byte, error) {
	if len(plain) == 0 {
		return nil, ErrEmptyReply
	}
	enc, err := c.seal(plain)
	if err != nil {
		return nil, err
	}
	out, err := xml.Marshal(encryptedReply{
		Encrypt:      cdata(enc),
		MsgSignature: cdata(MsgSignature(c.token, timestamp, nonce, enc)),
		TimeStamp:    timestamp,
		Nonce:        cdata(nonce),
	})
	if err != nil {
		return nil, fmt.Errorf("wechat: render encrypted reply: %w", err)
	}
	return out, nil
}

// Mode is how a request reached us, which decides how to answer it.
type Mode int

const (
	// ModePlain: no encryption; reply in plain XML.
	ModePlain Mode = iota
	// ModeCompatible: body carries both plain fields and Encrypt; we trust
	// only the decrypted copy and reply encrypted.
	ModeCompatible
	// ModeSafe: body carries only Encrypt; the reply must be encrypted.
	ModeSafe
)

// String names the mode for logs.
func (m Mode) String() string {
	switch m {
	case ModePlain:
		return "plain"
	case ModeCompatible:
		return "compatible"
	case ModeSafe:
		return "safe"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ProtoConfig is what ParseInbound needs to trust a request.
type ProtoConfig struct {
	// Token is the 令牌 from the console. Required.
	Token string
	// Crypto opens encrypted requests. Build it with the same Token. Nil
	// when no EncodingAESKey is configured; encrypted requests then fail
	// with ErrNoKey.
	Crypto *Crypto
	// MaxSkew, when positive, rejects requests whose timestamp is further
	// than this from Now, so a captured request cannot be replayed later.
	// WeChat retries within seconds, so a few minutes is plenty.
	MaxSkew time.Duration
	// Now is the clock for MaxSkew; nil means time.Now.
	Now func() time.Time
}

// NewProtoConfig builds a ProtoConfig whose Crypto shares its token. An empty
// encodingAESKey means plain mode only (Crypto nil).
func NewProtoConfig(token, encodingAESKey, appID string) (ProtoConfig, error) {
	if token == "" {
		return ProtoConfig{}, errors.New("wechat: token is empty")
	}
	cfg := ProtoConfig{Token: token}
	if encodingAESKey == "" {
		return cfg, nil
	}
	c, err := NewCrypto(token, encodingAESKey, appID)
	if err != nil {
		return ProtoConfig{}, err
	}
	cfg.Crypto = c
	return cfg, nil
}

// Inbound is one message or event pushed by WeChat. Field names follow Go
// conventions; the comments give WeChat's element names where they differ.
type Inbound struct {
	ToUserName   string // the account's original ID (gh_…)
	FromUserName string // the resident's OpenID
	CreateTime   int64  // unix seconds
	MsgType      string // text, image, voice, video, shortvideo, location, link, event

	MsgID        int64   // MsgId: the message id, the dedupe key for messages; 0 for events
	Content      string  // text
	PicURL       string  // PicUrl: image
	MediaID      string  // MediaId: image, voice, video
	Format       string  // voice: amr, speex
	Recognition  string  // voice: speech-to-text result, when enabled
	ThumbMediaID string  // ThumbMediaId: video, shortvideo
	LocationX    float64 // Location_X: latitude of a location message
	LocationY    float64 // Location_Y: longitude of a location message
	Scale        float64 // map zoom of a location message
	Label        string  // location: address text
	Title        string  // link
	Description  string  // link
	URL          string  // Url: link

	Event     string  // subscribe, unsubscribe, SCAN, LOCATION, CLICK, VIEW, TEMPLATESENDJOBFINISH, …
	EventKey  string  // CLICK key, VIEW url, qrscene_<scene> on subscribe, <scene> on SCAN
	Ticket    string  // QR code ticket on subscribe/SCAN
	Latitude  float64 // LOCATION event
	Longitude float64 // LOCATION event
	Precision float64 // LOCATION event
	Status    string  // TEMPLATESENDJOBFINISH: success, failed:user block, failed: system failed
	// TemplateMsgID is MsgID (capital D) of TEMPLATESENDJOBFINISH: the msgid
	// the template send API returned. Distinct element from MsgId.
	TemplateMsgID int64

	// Mode is how the request arrived; Timestamp and Nonce are its URL
	// parameters. SealReply uses all three to answer in kind.
	Mode      Mode
	Timestamp string
	Nonce     string
}

// DedupeKey identifies a delivery so WeChat's retries (it waits 5 s and
// tries three times) are handled once: MsgId for messages; for events, which
// have none, the sender and CreateTime, as the contract and WeChat's own
// documentation (FromUserName + CreateTime) name it. Two different events
// from one resident within the same second therefore count as one; the
// second of such a pair is in practice an automatic LOCATION or VIEW event,
// which is only recorded anyway.
func (in *Inbound) DedupeKey() string {
	if in.MsgID != 0 {
		return "msg:" + strconv.FormatInt(in.MsgID, 10)
	}
	return "evt:" + in.FromUserName + ":" + strconv.FormatInt(in.CreateTime, 10)
}

// wire holds every field as WeChat's text, before type conversion. XML and
// JSON bodies both land here so one conversion serves both.
type wire map[string]string

// wireFields are the elements we keep; anything else is ignored.
var wireFields = map[string]bool{
	"ToUserName": true, "FromUserName": true, "CreateTime": true, "MsgType": true,
	"MsgId": true, "Content": true, "PicUrl": true, "MediaId": true, "Format": true,
	"Recognition": true, "ThumbMediaId": true, "Location_X": true, "Location_Y": true,
	"Scale": true, "Label": true, "Title": true, "Description": true, "Url": true,
	"Event": true, "EventKey": true, "Ticket": true, "Latitude": true, "Longitude": true,
	"Precision": true, "Status": true, "MsgID": true, "Encrypt": true,
}

// parseWire reads a flat <xml>…</xml> or {…} document into a wire.
func parseWire(body []byte) (wire, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if trimmed[0] == '{' {
		return parseWireJSON(trimmed)
	}
	return parseWireXML(trimmed)
}

func parseWireXML(body []byte) (wire, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	// Strict mode and no CharsetReader: unknown entities (XXE attempts) and
	// non-UTF-8 declarations are errors, not surprises.
	d.Strict = true
	var root *xml.StartElement
	for root == nil {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			root = &t
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text before root element", ErrMalformed)
			}
		}
	}
	if root.Name.Local != "xml" {
		return nil, fmt.Errorf("%w: root element is <%s>, want <xml>", ErrMalformed, root.Name.Local)
	}
	w := wire{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			// chardata collects only the element's own text, so nested
			// structures (ScanCodeInfo, SendPicsInfo) are skipped whole.
			var v struct {
				Text string `xml:",chardata"`
			}
			if err := d.DecodeElement(&v, &t); err != nil {
				return nil, fmt.Errorf("%w: <%s>: %v", ErrMalformed, t.Name.Local, err)
			}
			if wireFields[t.Name.Local] {
				w[t.Name.Local] = v.Text
			}
		case xml.EndElement:
			return w, nil
		}
	}
}

func parseWireJSON(body []byte) (wire, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	w := wire{}
	for k, raw := range m {
		if !wireFields[k] {
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, k, err)
			}
			w[k] = s
		case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			// Numbers keep their literal text; conversion happens once, below.
			w[k] = string(raw)
		case string(raw) == "null":
		default:
			return nil, fmt.Errorf("%w: %s is not a string or number", ErrMalformed, k)
		}
	}
	return w, nil
}

// inbound converts a wire into an Inbound, rejecting unusable numbers.
func (w wire) inbound() (*Inbound, error) {
	in := &Inbound{
		ToUserName:   w["ToUserName"],
		FromUserName: w["FromUserName"],
		MsgType:      w["MsgType"],
		Content:      w["Content"],
		PicURL:       w["PicUrl"],
		MediaID:      w["MediaId"],
		Format:       w["Format"],
		Recognition:  w["Recognition"],
		ThumbMediaID: w["ThumbMediaId"],
		Label:        w["Label"],
		Title:        w["Title"],
		Description:  w["Description"],
		URL:          w["Url"],
		Event:        w["Event"],
		EventKey:     w["EventKey"],
		Ticket:       w["Ticket"],
		Status:       w["Status"],
	}
	if in.FromUserName == "" || in.MsgType == "" {
		return nil, fmt.Errorf("%w: FromUserName and MsgType are required", ErrMalformed)
	}
	var err error
	ints := []struct {
		name string
		dst  *int64
	}{{"CreateTime", &in.CreateTime}, {"MsgId", &in.MsgID}, {"MsgID", &in.TemplateMsgID}}
	for _, f := range ints {
		if *f.dst, err = parseInt(w[f.name]); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.name, err)
		}
	}
	floats := []struct {
		name string
		dst  *float64
	}{
		{"Location_X", &in.LocationX}, {"Location_Y", &in.LocationY}, {"Scale", &in.Scale},
		{"Latitude", &in.Latitude}, {"Longitude", &in.Longitude}, {"Precision", &in.Precision},
	}
	for _, f := range floats {
		if *f.dst, err = parseFloat(w[f.name]); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.name, err)
		}
	}
	return in, nil
}

func parseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	// NaN and Inf parse but are never real coordinates; they would poison
	// anything that stores or compares them.
	if f != f || f > 1e9 || f < -1e9 {
		return 0, fmt.Errorf("value %q out of range", s)
	}
	return f, nil
}

// ParseInbound authenticates and parses a POST from WeChat, in plain,
// compatible or safe mode (encrypt_type=aes with msg_signature). body is the
// raw request body; q the URL query.
//
// In plain mode only the signature over token/timestamp/nonce is checked;
// WeChat does not sign plain bodies. In the encrypted modes msg_signature
// covers the ciphertext and is checked before anything is decrypted, and
// only the decrypted copy of a compatible-mode body is used.
func ParseInbound(body []byte, q url.Values, cfg ProtoConfig) (*Inbound, error) {
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), MaxBodyBytes)
	}
	if cfg.Token == "" {
		return nil, errors.New("wechat: ProtoConfig.Token is empty")
	}
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	for _, k := range []string{"timestamp", "nonce", "signature", "msg_signature", "encrypt_type"} {
		if len(q.Get(k)) > maxQueryValue {
			return nil, fmt.Errorf("%w: query parameter %s too long", ErrMalformed, k)
		}
	}
	if err := checkSkew(timestamp, cfg); err != nil {
		return nil, err
	}

	var encrypted bool
	switch q.Get("encrypt_type") {
	case "", "raw":
		// WeChat sends encrypt_type=raw, or nothing, in plain mode.
	case "aes":
		encrypted = true
	default:
		return nil, fmt.Errorf("%w: unknown encrypt_type %q", ErrMalformed, q.Get("encrypt_type"))
	}

	if !encrypted {
		// Verify before parsing so unauthenticated bytes cost us nothing.
		if !VerifySignature(cfg.Token, timestamp, nonce, q.Get("signature")) {
			return nil, ErrBadSignature
		}
		w, err := parseWire(body)
		if err != nil {
			return nil, err
		}
		in, err := w.inbound()
		if err != nil {
			return nil, err
		}
		in.Mode, in.Timestamp, in.Nonce = ModePlain, timestamp, nonce
		return in, nil
	}

	if cfg.Crypto == nil {
		return nil, ErrNoKey
	}
	if cfg.Crypto.token != cfg.Token {
		// Replies would carry a msg_signature WeChat rejects.
		return nil, errors.New("wechat: ProtoConfig.Crypto was built with a different token")
	}
	outer, err := parseWire(body)
	if err != nil {
		return nil, err
	}
	enc := outer["Encrypt"]
	if enc == "" {
		return nil, fmt.Errorf("%w: encrypt_type=aes but no Encrypt element", ErrMalformed)
	}
	msgSig := q.Get("msg_signature")
	if msgSig == "" || !equalConstantTime(MsgSignature(cfg.Token, timestamp, nonce, enc), strings.ToLower(msgSig)) {
		return nil, ErrBadSignature
	}
	plain, err := cfg.Crypto.Decrypt(enc)
	if err != nil {
		return nil, err
	}
	inner, err := parseWire(plain)
	if err != nil {
		return nil, err
	}
	in, err := inner.inbound()
	if err != nil {
		return nil, err
	}
	in.Mode = ModeSafe
	if outer["MsgType"] != "" {
		in.Mode = ModeCompatible
	}
	in.Timestamp, in.Nonce = timestamp, nonce
	return in, nil
}

func checkSkew(timestamp string, cfg ProtoConfig) error {
	if cfg.MaxSkew <= 0 {
		return nil
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", ErrBadSignature, timestamp)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	d := now().Sub(time.Unix(ts, 0))
	if d > cfg.MaxSkew || d < -cfg.MaxSkew {
		return fmt.Errorf("%w: timestamp %s is %s from now", ErrBadSignature, timestamp, d.Round(time.Second))
	}
	return nil
}

// cdata marshals as a CDATA section. encoding/xml splits any "]]>" inside,
// so the output stays well-formed whatever the text.
type cdata string

// MarshalXML writes c as CDATA after dropping characters XML 1.0 forbids.
func (c cdata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		S string `xml:",cdata"`
	}{xmlSafe(string(c))}, start)
}

// xmlSafe replaces what no XML parser accepts, even inside CDATA: invalid
// UTF-8 and control characters other than tab, newline and carriage return.
// A staff reply pasted from elsewhere can carry them; dropping one
// character beats WeChat rejecting the whole reply.
func xmlSafe(s string) string {
	ok := true
	for _, r := range s {
		if !xmlChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if xmlChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('\uFFFD')
		}
	}
	return b.String()
}

func xmlChar(r rune) bool {
	switch {
	case r == utf8.RuneError:
		// Also drops a literal U+FFFD, which is harmless.
		return false
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20:
		return false
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r <= utf8.MaxRune
}

type replyHead struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata    `xml:"ToUserName"`
	FromUserName cdata    `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      cdata    `xml:"MsgType"`
}

type textReply struct {
	replyHead
	Content cdata `xml:"Content"`
}

type imageReply struct {
	replyHead
	MediaID cdata `xml:"Image>MediaId"`
}

// RenderText renders a passive text reply. to is the resident's OpenID (the
// request's FromUserName), from the account ID (the request's ToUserName).
// Any text is safe, including "]]>" and control characters.
func RenderText(to, from, text string, now time.Time) []byte {
	return mustMarshal(textReply{
		replyHead: replyHead{ToUserName: cdata(to), FromUserName: cdata(from), CreateTime: now.Unix(), MsgType: "text"},
		Content:   cdata(text),
	})
}

// RenderImage renders a passive image reply of an uploaded media item.
func RenderImage(to, from, mediaID string, now time.Time) []byte {
	return mustMarshal(imageReply{
		replyHead: replyHead{ToUserName: cdata(to), FromUserName: cdata(from), CreateTime: now.Unix(), MsgType: "image"},
		MediaID:   cdata(mediaID),
	})
}

// mustMarshal is for the fixed reply structs above, whose only inputs are
// strings already made XML-safe, so Marshal cannot fail.
func mustMarshal(v any) []byte {
	out, err := xml.Marshal(v)
	if err != nil {
		panic("wechat: marshal reply: " + err.Error())
	}
	return out
}

// SealReply prepares a rendered passive reply for the mode the request came
// in: unchanged in plain mode, encrypted (with the request's nonce and now
// as timestamp) in compatible and safe mode.
//
// A nil or empty reply returns ErrEmptyReply in every mode: with nothing to
// say, the handler writes the plain string "success" itself. Never encrypt
// an empty reply (see Crypto.Encrypt).
func SealReply(in *Inbound, reply []byte, c *Crypto, now time.Time) ([]byte, error) {
	if len(reply) == 0 {
		return nil, ErrEmptyReply
	}
	if in.Mode == ModePlain {
		return reply, nil
	}
	if c == nil {
		return nil, ErrNoKey
	}
	nonce := in.Nonce
	if nonce == "" {
		var b [8]byte
		if _, err := io.ReadFull(c.rand, b[:]); err != nil {
			return nil, fmt.Errorf("wechat: nonce: %w", err)
		}
		nonce = strconv.FormatUint(binary.BigEndian.Uint64(b[:])%1e10, 10)
	}
	return c.Encrypt(reply, strconv.FormatInt(now.Unix(), 10), nonce)
}
