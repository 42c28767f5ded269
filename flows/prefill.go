package flows

// A QR code on a notice board (WeChat qr_scenes) or a deep link can start a
// flow with data already known, such as the building the notice hangs in.
// The channel passes it as bot.Message.Params; only the keys below are
// taken, each under its own data key, so nothing from outside can overwrite
// a step's answers.

// prefillBuilding is the data key of a pre-filled building number.
const prefillBuilding = "prefill_building"

var prefillTexts = catalog{
	"report.use_building": {"就在%s栋", "In building %s"},
	"report.building":     {"%s栋", "Building %s"},
}

// prefilled picks the known keys out of an event's params.
func prefilled(params map[string]string) map[string]string {
	data := map[string]string{}
	if b := trimText(params["building"]); b != "" {
		data[prefillBuilding] = clip(b, 20)
	}
	if len(data) == 0 {
		return nil
	}
	return data
}
