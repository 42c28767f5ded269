package notify

import "linli/notify/aliyun"

// SMSConfig is the `sms` section of the config file.
type SMSConfig struct {
	Provider      string `yaml:"provider"`        // log | aliyun
	RatePerSecond int    `yaml:"rate_per_second"` // provider API calls per second, all kinds together
	QuietHours    string `yaml:"quiet_hours"`     // "21:00-08:00": non-urgent SMS wait until it ends
	InboundSecret string `yaml:"inbound_secret"`  // guards the push endpoints
	// BatchSize caps the numbers of one SendSms call (1..1000): smaller calls
	// put fewer messages in doubt when an answer is lost.
	BatchSize int           `yaml:"batch_size"`
	Aliyun    aliyun.Config `yaml:"aliyun"`
}
