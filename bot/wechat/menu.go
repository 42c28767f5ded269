package wechat

// Menu keys: a CLICK event carries one, and the engine starts the intent of
// the same name.
const (
	MenuReport = "report"
	MenuBook   = "book"
	MenuEvents = "events"
	MenuStatus = "status"
)

// BuildMenu is the account's custom menu in the community's language.
// WeChat allows three top-level buttons, so events and "mine" share the
// third as sub-buttons.
func BuildMenu(lang string) Menu {
	names := [5]string{"报事报修", "预约服务", "更多", "社区活动", "我的"}
	if lang == "en" {
		names = [5]string{"Report", "Book", "More", "Events", "My items"}
	}
	return Menu{Buttons: []Button{
		{Type: "click", Name: names[0], Key: MenuReport},
		{Type: "click", Name: names[1], Key: MenuBook},
		{Name: names[2], SubButtons: []Button{
			{Type: "click", Name: names[3], Key: MenuEvents},
			{Type: "click", Name: names[4], Key: MenuStatus},
		}},
	}}
}
