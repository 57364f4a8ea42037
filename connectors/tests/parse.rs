//! Webhook parsing against fixtures in Meta's documented shapes
//! (reference/meta.md sections 2, 4.2, 5 and 6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_connectors::meta::{
    DeliveryStatus, InboundItem, LeadgenChange, ParseError, SocialChannel, SocialMessage,
    SocialReceipt, WaMessage, WaStatus, Webhook, parse_webhook,
};

fn parse(body: &str) -> Webhook {
    parse_webhook(body.as_bytes()).unwrap()
}

fn wa_messages(w: &Webhook) -> Vec<&WaMessage> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::WhatsAppMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn wa_statuses(w: &Webhook) -> Vec<&WaStatus> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::WhatsAppStatus(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn social(w: &Webhook) -> Vec<&SocialMessage> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::SocialMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn receipts(w: &Webhook) -> Vec<&SocialReceipt> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::SocialReceipt(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn leads(w: &Webhook) -> Vec<&LeadgenChange> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::Leadgen(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn ignored(w: &Webhook) -> Vec<(Option<&str>, &str)> {
    w.items
        .iter()
        .filter_map(|i| match i {
            InboundItem::Ignored(x) => Some((x.field.as_deref(), x.reason.as_str())),
            _ => None,
        })
        .collect()
}

const WA_ALL_TYPES: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","time":1767225601,"changes":[{"field":"messages","value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"908501112233","phone_number_id":"418273645501234"},
  "contacts":[{"profile":{"name":"Deniz Kaya","username":"denizk"},"wa_id":"905321234567","user_id":"TR.40917265530184726311","parent_user_id":"TR.ENT.88120455619027734410"},
              {"profile":{"name":"Ayse Demir"},"wa_id":"905329876543"}],
  "messages":[
    {"from":"905321234567","from_user_id":"TR.40917265530184726311","id":"wamid.TEXT","timestamp":"1767225600","type":"text","text":{"body":"Is the blue model still in stock?"}},
    {"from":"905329876543","id":"wamid.IMAGE","timestamp":"1767225601","type":"image","image":{"id":"1479537139650973","mime_type":"image/jpeg","sha256":"abc","caption":"This one","url":"https://lookaside.fbsbx.com/x"}},
    {"from":"905321234567","id":"wamid.IMAGE2","timestamp":"1767225602","type":"image","image":{"id":"1479537139650974","mime_type":"image/jpeg","sha256":"abd"}},
    {"from":"905321234567","id":"wamid.VIDEO","timestamp":"1767225603","type":"video","video":{"id":"2","mime_type":"video/mp4","sha256":"v"}},
    {"from":"905321234567","id":"wamid.DOC","timestamp":"1767225604","type":"document","document":{"id":"3","mime_type":"application/pdf","sha256":"d","filename":"invoice.pdf"}},
    {"from":"905321234567","id":"wamid.DOC2","timestamp":"1767225604","type":"document","document":{"id":"3","mime_type":"application/pdf","sha256":"d","filename":"quote.pdf","caption":"Signed quote"}},
    {"from":"905321234567","id":"wamid.AUDIO","timestamp":"1767225605","type":"audio","audio":{"id":"4","mime_type":"audio/ogg; codecs=opus","sha256":"a","voice":true}},
    {"from":"905321234567","id":"wamid.AUDIO2","timestamp":"1767225605","type":"audio","audio":{"id":"4","mime_type":"audio/mpeg","sha256":"a","voice":false}},
    {"from":"905321234567","id":"wamid.STICKER","timestamp":"1767225606","type":"sticker","sticker":{"id":"5","mime_type":"image/webp","sha256":"s","animated":false}},
    {"from":"905321234567","id":"wamid.LOC","timestamp":"1767225607","type":"location","location":{"latitude":41.0082,"longitude":28.9784,"name":"Kadikoy Branch","address":"Caferaga Mh."}},
    {"from":"905321234567","id":"wamid.LOC2","timestamp":"1767225607","type":"location","location":{"latitude":41.0082,"longitude":28.9784}},
    {"from":"905321234567","id":"wamid.CONTACTS","timestamp":"1767225608","type":"contacts","contacts":[{"name":{"first_name":"Ali","formatted_name":"Ali Veli"},"phones":[{"phone":"+90 532 000 00 00","wa_id":"905320000000","type":"CELL"}]}]},
    {"from":"905321234567","id":"wamid.REACT","timestamp":"1767225609","type":"reaction","reaction":{"message_id":"wamid.OUTB0001","emoji":"\ud83d\udc4d"}},
    {"from":"905321234567","id":"wamid.UNREACT","timestamp":"1767225610","type":"reaction","reaction":{"message_id":"wamid.OUTB0001","emoji":""}},
    {"from":"905321234567","id":"wamid.UNREACT2","timestamp":"1767225610","type":"reaction","reaction":{"message_id":"wamid.OUTB0001"}},
    {"from":"905321234567","id":"wamid.BTNREPLY","timestamp":"1767225611","type":"interactive","context":{"from":"908501112233","id":"wamid.OUTB0002"},"interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Yes, book it"}}},
    {"from":"905321234567","id":"wamid.LISTREPLY","timestamp":"1767225612","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"b2","title":"Besiktas","description":"Open until 8pm"}}},
    {"from":"905321234567","id":"wamid.NFM","timestamp":"1767225613","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{\"flow_token\":\"t\",\"date\":\"2026-03-12\"}"}}},
    {"from":"905321234567","id":"wamid.BUTTON","timestamp":"1767225614","type":"button","context":{"from":"908501112233","id":"wamid.TEMPLATE1"},"button":{"payload":"book:8812","text":"Book now"}},
    {"from":"905321234567","id":"wamid.ORDER","timestamp":"1767225615","type":"order","order":{"catalog_id":"777","text":"Please deliver Friday","product_items":[{"product_retailer_id":"sku1","quantity":"2","item_price":"10.5","currency":"TRY"}]}},
    {"from":"905321234567","id":"wamid.ORDER2","timestamp":"1767225615","type":"order","order":{"catalog_id":"777","product_items":[{"product_retailer_id":"sku1","quantity":1,"item_price":10,"currency":"TRY"},{"product_retailer_id":"sku2","quantity":1,"item_price":3,"currency":"TRY"}]}},
    {"from":"905321234567","id":"wamid.UNSUP","timestamp":"1767225616","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown","message":"Message type unknown","error_data":{"details":"Message type is currently not supported."}}]},
    {"from":"905321234567","id":"wamid.FUTURE","timestamp":1767225617,"type":"hologram","hologram":{"id":"9"}},
    {"from":"905321234567","id":"wamid.FWD","timestamp":"1767225618","type":"text","context":{"forwarded":true},"text":{"body":"fwd"}}
  ]}}]}]}"#;

#[test]
fn whatsapp_every_message_type() {
    let w = parse(WA_ALL_TYPES);
    assert_eq!(w.object, "whatsapp_business_account");
    assert!(ignored(&w).is_empty(), "{:?}", ignored(&w));
    let msgs = wa_messages(&w);
    assert_eq!(msgs.len(), 24);
    let by_id = |id: &str| *msgs.iter().find(|m| m.wamid == id).unwrap();
    let summary = |id: &str| by_id(id).text.clone();

    let text = by_id("wamid.TEXT");
    assert_eq!(text.waba_id, "730194857362910");
    assert_eq!(text.phone_number_id, "418273645501234");
    assert_eq!(text.display_phone_number.as_deref(), Some("908501112233"));
    assert_eq!(text.wa_id.as_deref(), Some("905321234567"));
    assert_eq!(text.user_id.as_deref(), Some("TR.40917265530184726311"));
    assert_eq!(text.profile_name.as_deref(), Some("Deniz Kaya"));
    assert_eq!(text.timestamp, 1_767_225_600);
    assert_eq!(text.kind, "text");
    assert_eq!(
        text.text.as_deref(),
        Some("Is the blue model still in stock?")
    );
    assert_eq!(text.context_id, None);
    assert_eq!(text.referral, None);
    assert_eq!(
        text.raw["text"]["body"],
        "Is the blue model still in stock?"
    );

    // Contact matched by wa_id, not by position.
    let image = by_id("wamid.IMAGE");
    assert_eq!(image.profile_name.as_deref(), Some("Ayse Demir"));
    assert_eq!(image.user_id, None);
    assert_eq!(image.kind, "image");
    assert_eq!(summary("wamid.IMAGE").as_deref(), Some("This one"));
    assert_eq!(summary("wamid.IMAGE2").as_deref(), Some("[image]"));
    assert_eq!(summary("wamid.VIDEO").as_deref(), Some("[video]"));
    assert_eq!(
        summary("wamid.DOC").as_deref(),
        Some("[document] invoice.pdf")
    );
    assert_eq!(summary("wamid.DOC2").as_deref(), Some("Signed quote"));
    assert_eq!(summary("wamid.AUDIO").as_deref(), Some("[voice message]"));
    assert_eq!(summary("wamid.AUDIO2").as_deref(), Some("[audio]"));
    assert_eq!(summary("wamid.STICKER").as_deref(), Some("[sticker]"));
    assert_eq!(
        summary("wamid.LOC").as_deref(),
        Some("Kadikoy Branch, Caferaga Mh.")
    );
    assert_eq!(summary("wamid.LOC2").as_deref(), Some("41.0082, 28.9784"));
    assert_eq!(
        summary("wamid.CONTACTS").as_deref(),
        Some("[contact] Ali Veli")
    );

    let react = by_id("wamid.REACT");
    assert_eq!(react.kind, "reaction");
    assert_eq!(react.text.as_deref(), Some("\u{1f44d}"));
    assert_eq!(react.context_id.as_deref(), Some("wamid.OUTB0001"));
    assert_eq!(summary("wamid.UNREACT"), None);
    assert_eq!(summary("wamid.UNREACT2"), None);
    assert_eq!(by_id("wamid.UNREACT").kind, "reaction");

    let btn = by_id("wamid.BTNREPLY");
    assert_eq!(btn.kind, "interactive");
    assert_eq!(btn.text.as_deref(), Some("Yes, book it"));
    assert_eq!(btn.context_id.as_deref(), Some("wamid.OUTB0002"));
    assert_eq!(summary("wamid.LISTREPLY").as_deref(), Some("Besiktas"));
    let nfm = by_id("wamid.NFM");
    assert_eq!(nfm.text.as_deref(), Some("Sent"));
    assert_eq!(
        nfm.raw["interactive"]["nfm_reply"]["response_json"],
        "{\"flow_token\":\"t\",\"date\":\"2026-03-12\"}"
    );

    let button = by_id("wamid.BUTTON");
    assert_eq!(button.kind, "button");
    assert_eq!(button.text.as_deref(), Some("Book now"));
    assert_eq!(button.context_id.as_deref(), Some("wamid.TEMPLATE1"));

    assert_eq!(
        summary("wamid.ORDER").as_deref(),
        Some("Please deliver Friday")
    );
    assert_eq!(
        summary("wamid.ORDER2").as_deref(),
        Some("[order] 2 item(s)")
    );

    let unsup = by_id("wamid.UNSUP");
    assert_eq!(unsup.kind, "unsupported");
    assert_eq!(
        unsup.text.as_deref(),
        Some("[unsupported message: Message type unknown]")
    );
    assert_eq!(unsup.raw["errors"][0]["code"], 131_051);

    // Unknown types are kept, with a numeric timestamp accepted too.
    let future = by_id("wamid.FUTURE");
    assert_eq!(future.kind, "hologram");
    assert_eq!(future.timestamp, 1_767_225_617);
    assert_eq!(future.text.as_deref(), Some("[hologram]"));

    // Forward markers carry no id: no context_id.
    assert_eq!(by_id("wamid.FWD").context_id, None);
}

#[test]
fn whatsapp_ctwa_referral() {
    let w = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","changes":[{"field":"messages","value":{
      "messaging_product":"whatsapp","metadata":{"display_phone_number":"908501112233","phone_number_id":"418273645501234"},
      "contacts":[{"profile":{"name":"Deniz Kaya"},"wa_id":"905321234567"}],
      "messages":[{"from":"905321234567","id":"wamid.REF","timestamp":"1767225600","type":"text","text":{"body":"Hi from the ad"},
        "referral":{"source_url":"https://fb.me/4kXq9Zt","source_id":"120219876543210987","source_type":"ad",
          "headline":"Spring service check","body":"Book a free inspection","media_type":"image",
          "image_url":"https://cdn.example.com/ad.jpg","video_url":"","thumbnail_url":"","ctwa_clid":"ARAkLm3xQ9cTz7p"}},
        {"from":"905321234567","id":"wamid.REF2","timestamp":"1767225601","type":"text","text":{"body":"again"},
         "referral":{"source_id":120212345678900123,"source_type":"post"}}]}}]}]}"#,
    );
    let msgs = wa_messages(&w);
    let r = msgs[0].referral.clone().unwrap();
    assert_eq!(r.source_id.as_deref(), Some("120219876543210987"));
    assert_eq!(r.source_type.as_deref(), Some("ad"));
    assert_eq!(r.source_url.as_deref(), Some("https://fb.me/4kXq9Zt"));
    assert_eq!(r.headline.as_deref(), Some("Spring service check"));
    assert_eq!(r.ctwa_clid.as_deref(), Some("ARAkLm3xQ9cTz7p"));
    let r2 = msgs[1].referral.clone().unwrap();
    assert_eq!(r2.source_id.as_deref(), Some("120212345678900123"));
    assert_eq!(r2.ctwa_clid, None);
}

#[test]
fn whatsapp_bsuid_only_and_missing_identity() {
    let w = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","changes":[{"field":"messages","value":{
      "messaging_product":"whatsapp","metadata":{"display_phone_number":"908501112233","phone_number_id":"418273645501234"},
      "contacts":[{"profile":{"name":"Deniz","username":"denizk"},"user_id":"TR.40917265530184726311"}],
      "messages":[
        {"from_user_id":"TR.40917265530184726311","id":"wamid.BSUID1","timestamp":"1767225600","type":"text","text":{"body":"only bsuid"}},
        {"id":"wamid.BSUID2","timestamp":"1767225601","type":"text","text":{"body":"identity from the lone contact"}}
      ]}}]},
      {"id":"730194857362911","changes":[{"field":"messages","value":{
      "messaging_product":"whatsapp","metadata":{"phone_number_id":"418273645501235"},
      "messages":[{"id":"wamid.NOBODY","timestamp":"1767225602","type":"text","text":{"body":"who?"}}]}}]}]}"#,
    );
    let msgs = wa_messages(&w);
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        assert_eq!(m.wa_id, None);
        assert_eq!(m.user_id.as_deref(), Some("TR.40917265530184726311"));
        assert_eq!(m.profile_name.as_deref(), Some("Deniz"));
    }
    assert_eq!(
        msgs[0].display_phone_number.as_deref(),
        Some("908501112233")
    );
    assert_eq!(
        ignored(&w),
        vec![(Some("messages"), "message without wa_id/from or user_id")]
    );
}

#[test]
fn whatsapp_several_entries_and_changes() {
    let w = parse(
        r#"{"object":"whatsapp_business_account","entry":[
      {"id":"111","changes":[
        {"field":"messages","value":{"metadata":{"phone_number_id":"P1"},"contacts":[{"wa_id":"901"},{"wa_id":"902"}],
          "messages":[{"from":"901","id":"wamid.A1","timestamp":"1","type":"text","text":{"body":"a1"}},
                      {"from":"902","id":"wamid.A2","timestamp":"2","type":"text","text":{"body":"a2"}}]}},
        {"field":"messages","value":{"metadata":{"phone_number_id":"P2"},
          "statuses":[{"id":"wamid.S1","status":"delivered","timestamp":"3","recipient_id":"903"}]}}]},
      {"id":222,"changes":[
        {"field":"messages","value":{"metadata":{"phone_number_id":418273645501299},
          "messages":[{"from":905000000001,"id":"wamid.B1","timestamp":"4","type":"text","text":{"body":"b1"}}]}}]}]}"#,
    );
    let msgs = wa_messages(&w);
    assert_eq!(
        msgs.iter().map(|m| m.wamid.as_str()).collect::<Vec<_>>(),
        ["wamid.A1", "wamid.A2", "wamid.B1"]
    );
    assert_eq!(msgs[1].wa_id.as_deref(), Some("902"));
    // Numeric ids come back as exact decimal strings.
    assert_eq!(msgs[2].waba_id, "222");
    assert_eq!(msgs[2].phone_number_id, "418273645501299");
    assert_eq!(msgs[2].wa_id.as_deref(), Some("905000000001"));
    let st = wa_statuses(&w);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].phone_number_id, "P2");
    assert_eq!(st[0].status, DeliveryStatus::Delivered);
}

#[test]
fn whatsapp_statuses() {
    let w = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","changes":[{"field":"messages","value":{
      "messaging_product":"whatsapp","metadata":{"display_phone_number":"908501112233","phone_number_id":"418273645501234"},
      "statuses":[
        {"id":"wamid.OUTB0001","status":"sent","timestamp":"1767229200","recipient_id":"905321234567","biz_opaque_callback_data":"crm-msg-5f2c9a",
         "conversation":{"id":"c1","expiration_timestamp":"1767315600","origin":{"type":"marketing"}},
         "pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}},
        {"id":"wamid.OUTB0001","status":"delivered","timestamp":"1767229201","recipient_id":"905321234567",
         "pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}},
        {"id":"wamid.OUTB0001","status":"read","timestamp":"1767229300","recipient_id":"905321234567"},
        {"id":"wamid.OUTB0003","status":"played","timestamp":"1767229301","recipient_id":"905321234567"},
        {"id":"wamid.OUTB0002","status":"failed","timestamp":"1767229260","recipient_id":"905329876543",
         "errors":[{"code":131049,"title":"Marketing message held back","message":"Marketing message held back",
           "error_data":{"details":"Per-user marketing engagement cap reached."},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]},
        {"id":"wamid.OUTB0004","status":"deleted","timestamp":"1767229302","recipient_id":"905329876543"},
        {"id":"wamid.BROKEN","timestamp":"1767229302"}
      ]}}]}]}"#,
    );
    let st = wa_statuses(&w);
    assert_eq!(st.len(), 6);
    assert_eq!(st[0].status, DeliveryStatus::Sent);
    assert_eq!(st[0].timestamp, 1_767_229_200);
    assert_eq!(
        st[0].biz_opaque_callback_data.as_deref(),
        Some("crm-msg-5f2c9a")
    );
    assert_eq!(st[0].recipient_id.as_deref(), Some("905321234567"));
    assert_eq!(st[0].raw["pricing"]["category"], "marketing");
    assert_eq!(st[0].error_code, None);
    assert_eq!(st[1].status, DeliveryStatus::Delivered);
    assert_eq!(st[2].status, DeliveryStatus::Read);
    assert_eq!(st[3].status, DeliveryStatus::Played);
    let failed = st[4];
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.status.is_terminal());
    assert_eq!(failed.error_code, Some(131_049));
    assert_eq!(
        failed.error_title.as_deref(),
        Some("Marketing message held back")
    );
    assert_eq!(st[5].status, DeliveryStatus::Other("deleted".into()));
    assert_eq!(
        ignored(&w),
        vec![(Some("messages"), "status without status")]
    );
}

#[test]
fn delivery_status_helpers() {
    use DeliveryStatus::*;
    for (s, rank) in [
        (Sent, Some(1)),
        (Delivered, Some(2)),
        (Read, Some(3)),
        (Played, Some(4)),
        (Failed, None),
        (Other("x".into()), None),
    ] {
        assert_eq!(s.rank(), rank);
        assert_eq!(DeliveryStatus::parse(s.as_str()), s);
        assert_eq!(s.is_terminal(), s == Failed);
    }
    assert_eq!(DeliveryStatus::parse("READ"), Read);
    assert_eq!(serde_json::to_string(&Played).unwrap(), "\"played\"");
    assert_eq!(
        serde_json::from_str::<DeliveryStatus>("\"warning\"").unwrap(),
        Other("warning".into())
    );
    assert_eq!(SocialChannel::Instagram.as_str(), "instagram");
    assert_eq!(
        serde_json::to_string(&SocialChannel::Messenger).unwrap(),
        "\"messenger\""
    );
}

#[test]
fn messenger_events() {
    let w = parse(
        r#"{"object":"page","entry":[{"id":"104938271650432","time":1767225600123,"messaging":[
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225599871,
       "message":{"mid":"m_Zx81kPqR2vT0aLmN","text":"Do you deliver to Izmir?","quick_reply":{"payload":"CITY_IZMIR"},
         "reply_to":{"mid":"m_Yw70jOpQ1uS9zKlM","is_self_reply":false},
         "attachments":[{"type":"image","payload":{"url":"https://cdn.example.com/a.jpg"}},{"type":"fallback","payload":{}}]}},
      {"sender":{"id":"104938271650432"},"recipient":{"id":"7281940365182734"},"timestamp":1767225600500,
       "message":{"is_echo":true,"app_id":1517776481860111,"metadata":"crm","mid":"m_Echo1","text":"Yes, Izmir delivery takes 2 days."}},
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225601000,
       "postback":{"mid":"m_Post1","title":"Get Started","payload":"GET_STARTED","referral":{"ref":"spring","source":"ADS","type":"OPEN_THREAD","ad_id":"120212345678900123"}}},
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225601500,
       "postback":{"title":"Menu","payload":"MENU"}}
     ]},
     {"id":"104938271650432","time":1767225602000,"messaging":[
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225601999,
       "delivery":{"mids":["m_Echo1"],"watermark":1767225601000}},
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225602100,
       "read":{"watermark":1767225602000}},
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225602200,
       "optin":{"ref":"x"}}
     ]}]}"#,
    );
    let s = social(&w);
    assert_eq!(s.len(), 4);
    let m = s[0];
    assert_eq!(m.channel, SocialChannel::Messenger);
    assert_eq!(m.account_id, "104938271650432");
    assert_eq!(m.customer_id, "7281940365182734");
    assert_eq!(m.mid, "m_Zx81kPqR2vT0aLmN");
    assert_eq!(m.timestamp_ms, 1_767_225_599_871);
    assert_eq!(m.kind, "message");
    assert_eq!(m.text.as_deref(), Some("Do you deliver to Izmir?"));
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].kind, "image");
    assert_eq!(
        m.attachments[0].url.as_deref(),
        Some("https://cdn.example.com/a.jpg")
    );
    assert_eq!(m.attachments[1].url, None);
    assert!(!m.is_echo);
    assert_eq!(m.ad_id, None);

    let echo = s[1];
    assert!(echo.is_echo);
    assert_eq!(echo.sender_id, "104938271650432");
    assert_eq!(echo.customer_id, "7281940365182734");
    assert_eq!(echo.mid, "m_Echo1");

    let pb = s[2];
    assert_eq!(pb.kind, "postback");
    assert_eq!(pb.mid, "m_Post1");
    assert_eq!(pb.text.as_deref(), Some("Get Started"));
    assert_eq!(pb.ad_id.as_deref(), Some("120212345678900123"));
    assert_eq!(s[3].mid, "postback:7281940365182734:1767225601500");

    let r = receipts(&w);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].kind, "delivery");
    assert_eq!(r[0].mids, vec!["m_Echo1".to_owned()]);
    assert_eq!(r[0].watermark_ms, Some(1_767_225_601_000));
    assert_eq!(r[0].customer_id, "7281940365182734");
    assert_eq!(r[1].kind, "read");
    assert!(r[1].mids.is_empty());
    assert_eq!(r[1].watermark_ms, Some(1_767_225_602_000));
    assert_eq!(r[1].timestamp_ms, 1_767_225_602_100);
    assert_eq!(
        ignored(&w),
        vec![(Some("optin"), "unhandled messaging event")]
    );
}

#[test]
fn instagram_events() {
    let w = parse(
        r#"{"object":"instagram","entry":[{"id":17841400000000001,"time":1767225600123,"messaging":[
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225600000,
       "message":{"mid":"aWdfZAG1","text":"Price?","referral":{"ref":"r","ad_id":120212345678900123,"source":"ADS","type":"OPEN_THREAD",
         "ads_context_data":{"ad_title":"Spring","photo_url":"https://cdn.example.com/p.jpg"}}}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225600100,
       "message":{"mid":"aWdfZAG2","attachments":[{"type":"ig_reel","payload":{"url":"https://cdn.example.com/reel"}}]}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225601000,
       "reaction":{"mid":"aWdfZAG1","action":"react","reaction":"love","emoji":"\u2764\ufe0f"}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225602000,
       "reaction":{"mid":"aWdfZAG1","action":"unreact"}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225603000,
       "referral":{"ref":"spring","source":"ADS","type":"OPEN_THREAD","ad_id":"120212345678900124"}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225604000,
       "read":{"mid":"aWdfZEcho"}},
      {"sender":{"id":"1122334455667788"},"recipient":{"id":"17841400000000001"},"timestamp":1767225605000,
       "message":{"mid":"aWdfZAG2","is_deleted":true}}
     ]}]}"#,
    );
    let s = social(&w);
    assert_eq!(s.len(), 6);
    for m in &s {
        assert_eq!(m.channel, SocialChannel::Instagram);
        assert_eq!(m.account_id, "17841400000000001");
        assert_eq!(m.customer_id, "1122334455667788");
    }
    assert_eq!(s[0].ad_id.as_deref(), Some("120212345678900123"));
    assert_eq!(s[0].text.as_deref(), Some("Price?"));
    assert_eq!(s[1].attachments[0].kind, "ig_reel");
    assert_eq!(s[1].text, None);
    assert_eq!(s[2].kind, "reaction");
    assert_eq!(s[2].mid, "reaction:aWdfZAG1:react:1767225601000");
    assert_eq!(s[2].text.as_deref(), Some("\u{2764}\u{fe0f}"));
    assert_eq!(s[3].mid, "reaction:aWdfZAG1:unreact:1767225602000");
    assert_eq!(s[3].text, None);
    assert_eq!(s[4].kind, "referral");
    assert_eq!(s[4].mid, "referral:1122334455667788:1767225603000");
    assert_eq!(s[4].ad_id.as_deref(), Some("120212345678900124"));
    assert_eq!(s[5].kind, "message_deleted");
    assert_eq!(s[5].mid, "deleted:aWdfZAG2");
    let r = receipts(&w);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].channel, SocialChannel::Instagram);
    assert_eq!(r[0].kind, "read");
    assert_eq!(r[0].mids, vec!["aWdfZEcho".to_owned()]);
    assert_eq!(r[0].watermark_ms, None);
    assert!(ignored(&w).is_empty());
}

#[test]
fn messenger_standby_and_edits() {
    let w = parse(
        r#"{"object":"page","entry":[{"id":"104938271650432","time":1767225600123,"standby":[
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225599871,
       "message":{"mid":"m_Standby","text":"handled by another app"}},
      {"sender":{"id":"7281940365182734"},"recipient":{"id":"104938271650432"},"timestamp":1767225599872,
       "message_edit":{"mid":"m_Standby","text":"edited","num_edit":2}}]}]}"#,
    );
    let s = social(&w);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].mid, "m_Standby");
    assert_eq!(s[1].kind, "message_edit");
    assert_eq!(s[1].mid, "edit:m_Standby:2");
    assert_eq!(s[1].text.as_deref(), Some("edited"));
}

#[test]
fn leadgen_numeric_and_string_ids() {
    let w = parse(
        r#"{"object":"page","entry":[{"id":104938271650432,"time":1767268805,"changes":[
      {"field":"leadgen","value":{"leadgen_id":1187654321098765,"page_id":104938271650432,"form_id":892736451028374,
        "adgroup_id":120212345678900123,"ad_id":120212345678900123,"created_time":1767268800}},
      {"field":"leadgen","value":{"leadgen_id":"1187654321098766","page_id":"104938271650432",
        "form_id":"892736451028374","created_time":1767268802}},
      {"field":"leadgen","value":{"leadgen_id":"1187654321098767"}},
      {"field":"leadgen","value":{"page_id":"104938271650432"}},
      {"field":"feed","value":{"item":"post"}}]}]}"#,
    );
    let l = leads(&w);
    assert_eq!(l.len(), 3);
    assert_eq!(
        *l[0],
        LeadgenChange {
            leadgen_id: "1187654321098765".into(),
            page_id: Some("104938271650432".into()),
            form_id: Some("892736451028374".into()),
            ad_id: Some("120212345678900123".into()),
            adgroup_id: Some("120212345678900123".into()),
            created_time: Some(1_767_268_800),
        }
    );
    assert_eq!(l[1].leadgen_id, "1187654321098766");
    assert_eq!(l[1].form_id.as_deref(), Some("892736451028374"));
    assert_eq!(l[1].ad_id, None);
    // Organic leads have no ad; the page falls back to the entry id.
    assert_eq!(l[2].page_id.as_deref(), Some("104938271650432"));
    assert_eq!(l[2].created_time, None);
    assert_eq!(
        ignored(&w),
        vec![
            (Some("leadgen"), "leadgen change without leadgen_id"),
            (Some("feed"), "unhandled field"),
        ]
    );
}

#[test]
fn ignored_objects_and_fields() {
    let template = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","time":1767240000,
      "changes":[{"field":"message_template_status_update","value":{
        "event":"REJECTED","message_template_id":2093847561029385,"message_template_name":"spring_campaign",
        "message_template_language":"tr","reason":"INVALID_FORMAT","message_template_category":"MARKETING"}}]}]}"#,
    );
    assert_eq!(
        ignored(&template),
        vec![(Some("message_template_status_update"), "unhandled field")]
    );

    let prefs = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","changes":[{"field":"user_preferences","value":{
      "messaging_product":"whatsapp","metadata":{"phone_number_id":"418273645501234"},
      "contacts":[{"wa_id":"905321234567","profile":{"name":"Deniz"}}],
      "user_preferences":[{"wa_id":"905321234567","detail":"User requested to stop marketing messages","category":"marketing_messages","value":"stop","timestamp":1767225600}]}}]}]}"#,
    );
    assert_eq!(
        ignored(&prefs),
        vec![(Some("user_preferences"), "unhandled field")]
    );

    let unknown = parse(
        r#"{"object":"user","entry":[{"id":"1","changes":[{"field":"email","value":{}}]},{"id":"2","time":1}]}"#,
    );
    assert_eq!(unknown.object, "user");
    assert_eq!(
        ignored(&unknown),
        vec![
            (Some("email"), "unsupported object"),
            (None, "entry has no changes, messaging or standby"),
        ]
    );
    match &unknown.items[0] {
        InboundItem::Ignored(i) => assert_eq!(i.object, "user"),
        other => panic!("{other:?}"),
    }

    let errors_only = parse(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"errors":[{"code":131000}]}}]}]}"#,
    );
    assert_eq!(
        ignored(&errors_only),
        vec![(Some("messages"), "value carries only errors[]")]
    );
}

#[test]
fn malformed_items_do_not_sink_the_batch() {
    let w = parse(
        r#"{"object":"whatsapp_business_account","entry":[
      7,
      {"id":"1","changes":"nope"},
      {"id":"1","changes":[null,{"field":"messages"},{"field":"messages","value":{"metadata":{"phone_number_id":"P"},
        "messages":[42,{"from":"9","timestamp":"1","type":"text"},{"from":"9","id":"wamid.X","timestamp":"soon","type":"text"},
                    {"from":"9","id":"wamid.OK","timestamp":"1","type":"text","text":{"body":"survivor"}}]}}]},
      {"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"9","id":"wamid.NOWABA","timestamp":"1"}]}}]}]}"#,
    );
    let msgs = wa_messages(&w);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].text.as_deref(), Some("survivor"));
    assert_eq!(
        ignored(&w),
        vec![
            (None, "entry is not an object"),
            (Some("changes"), "`changes` is not an array"),
            (None, "change is not an object"),
            (Some("messages"), "change has no value object"),
            (Some("messages"), "message item is not an object"),
            (Some("messages"), "message without id"),
            (Some("messages"), "message without a valid timestamp"),
            (
                Some("messages"),
                "missing entry.id or metadata.phone_number_id"
            ),
        ]
    );

    let s = parse(
        r#"{"object":"page","entry":[{"id":"P","messaging":[
      {"sender":{"id":"U"},"recipient":{"id":"P"},"message":{"mid":"m1"}},
      {"sender":{"id":"U"},"timestamp":1,"message":{"mid":"m2"}},
      {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,"message":{"text":"no mid"}},
      {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":"1767225600000","message":{"mid":"m3"}}]}]}"#,
    );
    assert_eq!(social(&s).len(), 1);
    assert_eq!(social(&s)[0].timestamp_ms, 1_767_225_600_000);
    assert_eq!(ignored(&s).len(), 3);
}

#[test]
fn envelope_errors() {
    assert!(matches!(
        parse_webhook(b"not json"),
        Err(ParseError::InvalidJson(_))
    ));
    assert!(matches!(
        parse_webhook(b"[1,2]"),
        Err(ParseError::NotEnvelope(_))
    ));
    assert!(matches!(
        parse_webhook(br#"{"entry":[]}"#),
        Err(ParseError::NotEnvelope(_))
    ));
    assert!(matches!(
        parse_webhook(br#"{"object":5}"#),
        Err(ParseError::NotEnvelope(_))
    ));
    let empty = parse(r#"{"object":"page","entry":[]}"#);
    assert!(empty.items.is_empty());
    let no_entry = parse(r#"{"object":"page"}"#);
    assert!(no_entry.items.is_empty());
    let bad_entry = parse(r#"{"object":"page","entry":{}}"#);
    assert_eq!(ignored(&bad_entry), vec![(None, "`entry` is not an array")]);
}

#[test]
fn webhook_round_trips_through_serde() {
    let w = parse(WA_ALL_TYPES);
    let json = serde_json::to_string(&w).unwrap();
    let back: Webhook = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w);
}
