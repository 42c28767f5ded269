package aliyun

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Defaults applied to empty Config fields.
const (
	DefaultRegionID = "cn-hangzhou"
	DefaultEndpoint = "dysmsapi.aliyuncs.com"
	// DefaultScheme is HTTPS. The SDK's own default is HTTP, which would send
	// the signed request, residents' numbers and message parameters in clear.
	DefaultScheme = "https"
)

// Config is the sms.aliyun section of linli's configuration file.
type Config struct {
	// AccessKeyID identifies the RAM user that sends (env LINLI_SMS_ALIYUN_ACCESS_KEY_ID).
	AccessKeyID string `yaml:"access_key_id"`
	// AccessKeySecret signs every request (env LINLI_SMS_ALIYUN_ACCESS_KEY_SECRET).
	// It never appears in errors, logs or String().
	AccessKeySecret string `yaml:"access_key_secret"`
	// RegionID goes into the signed request; default cn-hangzhou.
	RegionID string `yaml:"region_id"`
	// Endpoint is host[:port] without scheme or path; default dysmsapi.aliyuncs.com.
	// Point it at a proxy or a local stand-in such as aliyunfake.
	Endpoint string `yaml:"endpoint"`
	// Scheme is https (default) or http; http is meant for local stand-ins.
	Scheme string `yaml:"scheme"`
	// SignName is the approved signature shown in 【】 before every message.
	SignName string `yaml:"sign_name"`
	// Templates are the approved template codes, one per kind of message.
	Templates Templates `yaml:"templates"`
}

// Templates holds approved template codes (SMS_ followed by digits). An
// empty code means that kind of message is not sent by SMS.
type Templates struct {
	// VerifyCode carries the 6-digit phone-binding code.
	VerifyCode string `yaml:"verify_code"`
	// Reminder announces a booking or event that is coming up.
	Reminder string `yaml:"reminder"`
	// Survey asks for a satisfaction score by reply.
	Survey string `yaml:"survey"`
	// Notice carries a broadcast from the office.
	Notice string `yaml:"notice"`
	// TicketUpdate tells a resident their ticket changed.
	TicketUpdate string `yaml:"ticket_update"`
}

// ConfigError is one problem in a Config. Key is the YAML key relative to
// the sms.aliyun section, e.g. "templates.verify_code", so that the caller can
// point at the file line.
type ConfigError struct {
	Key     string
	Problem string
}

// Error reads "key: problem".
func (e *ConfigError) Error() string { return e.Key + ": " + e.Problem }

// WithDefaults returns c with empty RegionID, Endpoint and Scheme filled in
// and Scheme lower-cased.
func (c Config) WithDefaults() Config {
	if c.RegionID == "" {
		c.RegionID = DefaultRegionID
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
	}
	c.Scheme = strings.ToLower(c.Scheme)
	return c
}

var (
	// The SDK refuses other region ids; say so before it does.
	regionSyntax   = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	templateSyntax = regexp.MustCompile(`^SMS_[0-9]+$`)
)

// Validate reports every problem in c (after defaults) as *ConfigError values
// joined with errors.Join, or nil.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.AccessKeyID) == "" {
		bad("access_key_id", "required (or set LINLI_SMS_ALIYUN_ACCESS_KEY_ID)")
	}
	if strings.TrimSpace(c.AccessKeySecret) == "" {
		bad("access_key_secret", "required (or set LINLI_SMS_ALIYUN_ACCESS_KEY_SECRET)")
	}
	if !regionSyntax.MatchString(c.RegionID) {
		bad("region_id", "%q is not a region id such as cn-hangzhou", c.RegionID)
	}
	if err := checkEndpoint(c.Endpoint); err != "" {
		bad("endpoint", "%s", err)
	}
	if c.Scheme != "https" && c.Scheme != "http" {
		bad("scheme", "%q is neither https nor http", c.Scheme)
	}
	if strings.TrimSpace(c.SignName) == "" {
		bad("sign_name", "required: the approved signature, e.g. 普惠苑社区")
	}
	for key, code := range map[string]string{
		"templates.verify_code":   c.Templates.VerifyCode,
		"templates.reminder":      c.Templates.Reminder,
		"templates.survey":        c.Templates.Survey,
		"templates.notice":        c.Templates.Notice,
		"templates.ticket_update": c.Templates.TicketUpdate,
	} {
		if code != "" && !templateSyntax.MatchString(code) {
			bad(key, "%q is not a template code such as SMS_123456789", code)
		}
	}
	sortConfigErrors(errs)
	return errors.Join(errs...)
}

// sortConfigErrors orders by key: the map iteration above is random, and
// `linli check` should print the same thing from run to run.
func sortConfigErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		return errs[i].(*ConfigError).Key < errs[j].(*ConfigError).Key
	})
}

// checkEndpoint accepts host or host:port and explains anything else; the SDK
// would glue a scheme or path in the endpoint into a broken URL silently.
func checkEndpoint(ep string) string {
	if ep == "" {
		return "required"
	}
	if strings.Contains(ep, "://") {
		return fmt.Sprintf("%q must be host[:port] without a scheme; put the scheme in scheme", ep)
	}
	u, err := url.Parse("//" + ep)
	if err != nil || u.Host != ep || u.User != nil || u.Hostname() == "" {
		return fmt.Sprintf("%q must be host[:port] with no path", ep)
	}
	return ""
}

// String describes c without the secret, so a config printed by mistake
// leaks nothing.
func (c Config) String() string {
	secret := ""
	if c.AccessKeySecret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("aliyun.Config{AccessKeyID:%q AccessKeySecret:%s RegionID:%q Endpoint:%q Scheme:%q SignName:%q Templates:%+v}",
		c.AccessKeyID, secret, c.RegionID, c.Endpoint, c.Scheme, c.SignName, c.Templates)
}

// GoString is String, so that %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secret out of slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Bool("access_key_secret_set", c.AccessKeySecret != ""),
		slog.String("region_id", c.RegionID),
		slog.String("endpoint", c.Endpoint),
		slog.String("scheme", c.Scheme),
		slog.String("sign_name", c.SignName),
	)
}
