package telegram

// Config is the `telegram` section of the config file.
type Config struct {
	Enabled       bool   `yaml:"enabled"`
	Token         string `yaml:"token"` // env LINLI_TELEGRAM_TOKEN
	Mode          string `yaml:"mode"`  // polling | webhook
	WebhookPath   string `yaml:"webhook_path"`
	WebhookSecret string `yaml:"webhook_secret"` // env LINLI_TELEGRAM_WEBHOOK_SECRET; required in webhook mode
	APIBaseURL    string `yaml:"api_base_url"`
	StaffChatID   int64  `yaml:"staff_chat_id"` // the staff group that receives ticket alerts
}
