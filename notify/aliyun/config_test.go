package aliyun

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{AccessKeyID: "id", AccessKeySecret: "s3cret-value", SignName: "普惠苑社区"}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Scheme: "HTTP"}.WithDefaults()
	if c.RegionID != "cn-hangzhou" || c.Endpoint != "dysmsapi.aliyuncs.com" || c.Scheme != "http" {
		t.Fatalf("%+v", c)
	}
	if got := (Config{}).WithDefaults().Scheme; got != "https" {
		t.Fatalf("default scheme %q, want https", got)
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestConfigValidateReportsEveryProblemByKey(t *testing.T) {
	c := Config{
		RegionID:  "cn hangzhou",
		Endpoint:  "https://dysmsapi.aliyuncs.com",
		Scheme:    "ftp",
		Templates: Templates{VerifyCode: "SMS_123", Survey: "123"},
	}
	err := c.Validate()
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("not a ConfigError: %v", e)
		}
		keys = append(keys, ce.Key)
	}
	want := "access_key_id access_key_secret endpoint region_id scheme sign_name templates.survey"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("keys %q, want %q\n%v", got, want, err)
	}
	for _, ep := range []string{"127.0.0.1:8080", "localhost", "dysmsapi.aliyuncs.com"} {
		c := validConfig()
		c.Endpoint = ep
		if err := c.Validate(); err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	for _, ep := range []string{"host/path", "user@host", ":8080"} {
		c := validConfig()
		c.Endpoint = ep
		if err := c.Validate(); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}

func TestConfigNeverShowsSecret(t *testing.T) {
	c := validConfig()
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "sms", c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %s %#v", c, c, c, c), fmt.Sprintf("%v", &c), b.String()} {
		if strings.Contains(s, c.AccessKeySecret) {
			t.Fatalf("secret in %q", s)
		}
	}
	if _, err := New(Config{AccessKeySecret: "s3cret-value"}, nil); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("New: %v", err)
	}
}
