package wechat

import "time"

// Config is the `wechat` section of the config file.
type Config struct {
	Enabled        bool   `yaml:"enabled"`
	AppID          string `yaml:"app_id"`
	AppSecret      string `yaml:"app_secret"`       // env LINLI_WECHAT_APP_SECRET
	Token          string `yaml:"token"`            // env LINLI_WECHAT_TOKEN
	EncodingAESKey string `yaml:"encoding_aes_key"` // env LINLI_WECHAT_ENCODING_AES_KEY; empty: plain mode only
	Path           string `yaml:"path"`
	APIBaseURL     string `yaml:"api_base_url"`
	// ReplyBudget is how long a message may take before the passive reply is
	// given up for `success` and the customer-service API (WeChat waits 5 s).
	ReplyBudget time.Duration `yaml:"reply_budget"`
	Templates   Templates     `yaml:"templates"`
	// QRScenes maps the scene of a QR code (qrscene_KEY) to what it starts.
	QRScenes []QRScene `yaml:"qr_scenes"`
}

// Templates are the template message ids used when the 48-hour window has closed.
type Templates struct {
	TicketUpdate string `yaml:"ticket_update"`
	Reminder     string `yaml:"reminder"`
}

// QRScene is one QR code on a notice board: scanning it starts a flow.
type QRScene struct {
	Scene    string `yaml:"scene"`    // the key after qrscene_
	Flow     string `yaml:"flow"`     // report | book | events | status
	Building string `yaml:"building"` // pre-filled building for a report
}
