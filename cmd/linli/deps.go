package main

// Temporary: pins the chosen dependencies in go.mod while the packages that
// use them are written in parallel. Removed once every import is real.
import (
	_ "github.com/aliyun/alibaba-cloud-sdk-go/services/dysmsapi"
	_ "github.com/go-co-op/gocron/v2"
	_ "github.com/go-telegram/bot"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/silenceper/wechat/v2/officialaccount"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
