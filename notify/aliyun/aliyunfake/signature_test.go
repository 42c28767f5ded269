package aliyunfake

import "testing"

// publishedExample is Aliyun's worked Signature V1 example for SendSms
// (dysmsapi documentation, "签名机制"), reproduced field for field.
func publishedExample() map[string]string {
	return map[string]string{
		"AccessKeyId":      "testId",
		"Action":           "SendSms",
		"Format":           "XML",
		"OutId":            "123",
		"PhoneNumbers":     "15300000001",
		"RegionId":         "cn-hangzhou",
		"SignName":         "阿里云短信测试专用",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "45e25e9b-0a6f-4070-8c85-2956eda1b466",
		"SignatureVersion": "1.0",
		"TemplateCode":     "SMS_71390007",
		"TemplateParam":    `{"customer":"test"}`,
		"Timestamp":        "2017-07-12T02:42:19Z",
		"Version":          "2017-05-25",
	}
}

func TestSignPublishedExample(t *testing.T) {
	params := publishedExample()
	const want = "zJDF+Lrzhj/ThnlvIToysFRq6t4="
	if got := Sign("GET", params, "testSecret"); got != want {
		t.Fatalf("Sign = %q, want %q\nstring to sign: %s", got, want, StringToSign("GET", params))
	}
	params["Signature"] = want
	if !Verify("GET", params, "testSecret") {
		t.Fatal("Verify rejected the published signature")
	}
	if Verify("GET", params, "wrongSecret") {
		t.Fatal("Verify accepted a signature made with another secret")
	}
	if Verify("POST", params, "testSecret") {
		t.Fatal("Verify ignored the HTTP method")
	}
	params["OutId"] = "124"
	if Verify("GET", params, "testSecret") {
		t.Fatal("Verify accepted a tampered parameter")
	}
}

func TestStringToSignPublishedExample(t *testing.T) {
	// The published string to sign, which pins the canonicalisation (sorting,
	// %20 for spaces, UTF-8 percent-encoding of the Chinese sign name).
	const want = "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123" +
		"%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C" +
		"%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8" +
		"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466" +
		"%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D" +
		"%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
	if got := StringToSign("GET", publishedExample()); got != want {
		t.Fatalf("StringToSign =\n%s\nwant\n%s", got, want)
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b":   "a%20b",
		"a+b":   "a%2Bb",
		"*":     "%2A",
		"~-_.":  "~-_.",
		"é":     "%C3%A9",
		"a=b&c": "a%3Db%26c",
		"/":     "%2F",
	} {
		if got := PercentEncode(in); got != want {
			t.Errorf("PercentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
