//! SMS, I/O-free: the Twilio-style webhook's signature, its form, the STOP/START/HELP
//! keywords, replies cut into SMS segments and rendered as TwiML.
//!
//! - [`signature`]: base64 of HMAC-SHA1, keyed by the account's auth token, over the full
//!   URL followed by every POST parameter sorted by name (then value), each name then value
//!   appended with nothing between; [`verify_signature`] compares in constant time.
//! - [`parse_form`] decodes `application/x-www-form-urlencoded` bodies (bounded);
//!   [`Inbound::from_params`] takes `From`, `To`, `Body`, `MessageSid` out of them.
//! - [`Keyword`]: `STOP`, `STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT` opt out;
//!   `START`, `UNSTOP` opt back in; `HELP`, `INFO` get the help text. The whole message
//!   must be the keyword (any case, surrounding spaces ignored). `YES` is deliberately
//!   **not** an opt-in here: it is the chat's answer to a confirmation.
//! - [`segments`]: GSM-7 text is one segment up to 160 septets, else parts of at most 153
//!   (the extension characters `^{}\[~]|€` count two and are never split); any other
//!   character makes the text UCS-2: 70 UTF-16 units, else parts of 67. Parts break after
//!   the last space that fits, when there is one.
//! - [`twiml`]: `<Response>` with one XML-escaped `<Message>` per text given (none: an empty
//!   response, which is what unknown numbers get).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The largest form body read, bytes.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// The most form parameters read.
pub const MAX_PARAMS: usize = 64;
/// The longest inbound body kept, characters (Twilio's own limit).
pub const MAX_BODY_CHARS: usize = 1_600;
/// One GSM-7 message, septets.
pub const GSM_SINGLE: usize = 160;
/// One part of a multipart GSM-7 message, septets.
pub const GSM_PART: usize = 153;
/// One UCS-2 message, UTF-16 units.
pub const UCS2_SINGLE: usize = 70;
/// One part of a multipart UCS-2 message, UTF-16 units.
pub const UCS2_PART: usize = 67;

type HmacSha1 = Hmac<Sha1>;

fn sorted(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    sorted
}

/// The signature Twilio sends in `X-Twilio-Signature` for `url` and `params` (module doc).
pub fn signature(url: &str, params: &[(String, String)], auth_token: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = HmacSha1::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted(params) {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `url` and `params`, compared in constant time.
/// Too many parameters or an empty token never verify.
pub fn verify_signature(
    url: &str,
    params: &[(String, String)],
    auth_token: &str,
    header: &str,
) -> bool {
    if auth_token.is_empty() || params.len() > MAX_PARAMS {
        return false;
    }
    let expected = signature(url, params, auth_token);
    expected.as_bytes().ct_eq(header.trim().as_bytes()).into()
}

/// Why a webhook form is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SmsError {
    /// Larger than [`MAX_FORM_BYTES`].
    #[error("the form is {bytes} bytes; at most {MAX_FORM_BYTES} are read")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// More than [`MAX_PARAMS`] parameters.
    #[error("the form has more than {MAX_PARAMS} parameters")]
    TooManyParams,
    /// Bad percent-encoding or not UTF-8.
    #[error("the form is not valid url-encoded UTF-8: {0}")]
    Malformed(&'static str),
    /// A required parameter is missing.
    #[error("the form has no {0}")]
    Missing(&'static str),
    /// The body is longer than [`MAX_BODY_CHARS`].
    #[error("the message is longer than {MAX_BODY_CHARS} characters")]
    BodyTooLong,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(part: &[u8]) -> Result<String, SmsError> {
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = part.get(i + 1).copied().and_then(hex);
                let lo = part.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi * 16 + lo),
                    _ => return Err(SmsError::Malformed("a % not followed by two hex digits")),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| SmsError::Malformed("not UTF-8"))
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs, in order.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, SmsError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(SmsError::TooLarge { bytes: body.len() });
    }
    let mut pairs = Vec::new();
    for field in body.split(|&b| b == b'&').filter(|f| !f.is_empty()) {
        if pairs.len() == MAX_PARAMS {
            return Err(SmsError::TooManyParams);
        }
        let (name, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => (field, &field[..0]),
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

/// The fields of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's number.
    pub from: String,
    /// Our number.
    pub to: String,
    /// The text.
    pub body: String,
    /// Twilio's id (repeats are ignored by the gateway).
    pub message_sid: String,
}

impl Inbound {
    /// Takes the fields out of the form's pairs.
    pub fn from_params(params: &[(String, String)]) -> Result<Inbound, SmsError> {
        let get = |name: &'static str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or(SmsError::Missing(name))
        };
        let body = get("Body")?;
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(SmsError::BodyTooLong);
        }
        Ok(Inbound {
            from: get("From")?,
            to: get("To")?,
            body,
            message_sid: get("MessageSid")?,
        })
    }
}

/// An SMS keyword the gateway handles before the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Opt out: send nothing more.
    Stop,
    /// Opt back in.
    Start,
    /// The help text.
    Help,
}

impl Keyword {
    /// The keyword the whole message is, if it is one (module doc).
    pub fn parse(body: &str) -> Option<Keyword> {
        let word = body
            .trim()
            .trim_end_matches(['.', '!'])
            .to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Keyword::Stop),
            "START" | "UNSTOP" => Some(Keyword::Start),
            "HELP" | "INFO" => Some(Keyword::Help),
            _ => None,
        }
    }

    /// The reply the gateway sends (after STOP, this confirmation is the last message).
    pub fn reply(self) -> &'static str {
        match self {
            Keyword::Stop => "Paceline: you won't get more messages. Reply START to resume.",
            Keyword::Start => "Paceline: messages are back on. Reply HELP for help, STOP to stop.",
            Keyword::Help => {
                "Paceline coach: text things like \"only 35 minutes today\" or \"ran 5k in 25:00\". Reply STOP to stop."
            }
        }
    }
}

/// The GSM 03.38 basic character set.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM 03.38 extension table (each sent as escape + character: two septets).
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// How a text is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The 7-bit GSM alphabet.
    Gsm7,
    /// UCS-2 (UTF-16).
    Ucs2,
}

fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// GSM-7 when every character is in the GSM alphabet, else UCS-2.
pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// `text` cut into SMS segments (module doc).
pub fn segments(text: &str) -> Vec<String> {
    let enc = encoding(text);
    let cost = |c: char| match enc {
        Encoding::Gsm7 => gsm_septets(c).unwrap_or(2),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let (single, part) = match enc {
        Encoding::Gsm7 => (GSM_SINGLE, GSM_PART),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_PART),
    };
    let total: usize = text.chars().map(cost).sum();
    if total <= single {
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text.to_owned()]
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut used = 0;
        let mut end = start;
        while end < chars.len() && used + cost(chars[end]) <= part {
            used += cost(chars[end]);
            end += 1;
        }
        if end < chars.len()
            && let Some(space) = chars[start..end].iter().rposition(|&c| c == ' ')
            && space > 0
        {
            // Break after the last space that fits.
            end = start + space + 1;
        }
        out.push(chars[start..end].iter().collect());
        start = end;
    }
    out
}

/// Escapes text for XML and drops characters XML 1.0 cannot hold.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A TwiML response with one `<Message>` per text (none: an empty response).
pub fn twiml(messages: &[String]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for m in messages {
        out.push_str("<Message>");
        out.push_str(&xml_escape(m));
        out.push_str("</Message>");
    }
    out.push_str("</Response>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    const URL: &str = "https://paceline.example/webhooks/sms";
    const TOKEN: &str = "12345678901234567890123456789012";

    fn inbound() -> Vec<(String, String)> {
        params(&[
            ("From", "+15551230001"),
            ("To", "+15559870002"),
            ("Body", "only 35 minutes today"),
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("AccountSid", "AC00000000000000000000000000000000"),
        ])
    }

    #[test]
    fn signature_matches_an_independent_computation() {
        // Computed with python3's hmac, hashlib.sha1 and base64 over
        // URL + "AccountSid…Body…From…MessageSid…To…" (names sorted, each name then value):
        //   base64(hmac.new(TOKEN, s, sha1).digest()) = "zjioPugywo891QttXCoyLxVV39g="
        assert_eq!(
            signature(URL, &inbound(), TOKEN),
            "zjioPugywo891QttXCoyLxVV39g="
        );
        assert!(verify_signature(
            URL,
            &inbound(),
            TOKEN,
            "zjioPugywo891QttXCoyLxVV39g="
        ));
        // Twilio's documented example (token 12345), same way: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=".
        let doc = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature("https://mycompany.com/myapp.php?foo=1&bar=2", &doc, "12345"),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn wrong_signatures_are_refused() {
        let good = "zjioPugywo891QttXCoyLxVV39g=";
        assert!(!verify_signature(URL, &inbound(), "another token", good));
        assert!(!verify_signature(
            &format!("{URL}?x=1"),
            &inbound(),
            TOKEN,
            good
        ));
        let mut changed = inbound();
        changed[2].1 = "only 36 minutes today".into();
        assert!(!verify_signature(URL, &changed, TOKEN, good));
        assert!(!verify_signature(URL, &inbound(), TOKEN, ""));
        assert!(!verify_signature(URL, &inbound(), TOKEN, &good[..27]));
        assert!(!verify_signature(URL, &inbound(), "", good));
    }

    #[test]
    fn forms_decode() {
        let pairs =
            parse_form(b"Body=only+35%20minutes%21&From=%2B15551230001&Empty=&Flag").unwrap();
        assert_eq!(
            pairs,
            params(&[
                ("Body", "only 35 minutes!"),
                ("From", "+15551230001"),
                ("Empty", ""),
                ("Flag", "")
            ])
        );
        assert_eq!(
            parse_form(b"a=%zz"),
            Err(SmsError::Malformed("a % not followed by two hex digits"))
        );
        assert_eq!(parse_form(b"a=%ff"), Err(SmsError::Malformed("not UTF-8")));
        assert_eq!(
            parse_form(&vec![b'a'; MAX_FORM_BYTES + 1]),
            Err(SmsError::TooLarge {
                bytes: MAX_FORM_BYTES + 1
            })
        );
        assert_eq!(
            parse_form("a=1&".repeat(65).as_bytes()),
            Err(SmsError::TooManyParams)
        );
        let i = Inbound::from_params(&inbound()).unwrap();
        assert_eq!(
            (i.from.as_str(), i.body.as_str()),
            ("+15551230001", "only 35 minutes today")
        );
        assert_eq!(
            Inbound::from_params(&inbound()[1..]), // no From
            Err(SmsError::Missing("From"))
        );
    }

    #[test]
    fn keywords() {
        assert_eq!(Keyword::parse(" stop "), Some(Keyword::Stop));
        assert_eq!(Keyword::parse("Unsubscribe"), Some(Keyword::Stop));
        assert_eq!(Keyword::parse("START"), Some(Keyword::Start));
        assert_eq!(Keyword::parse("help!"), Some(Keyword::Help));
        assert_eq!(Keyword::parse("yes"), None);
        assert_eq!(Keyword::parse("stop the workout early"), None);
    }

    #[test]
    fn segments_follow_gsm_and_ucs2_lengths() {
        // 160 GSM characters: one segment; 161: two parts of ≤ 153.
        assert_eq!(segments(&"a".repeat(160)).len(), 1);
        let two = segments(&"a".repeat(161));
        assert_eq!(
            two.iter().map(|s| s.chars().count()).collect::<Vec<_>>(),
            [153, 8]
        );
        // Extension characters count two: 80 '€' = 160 septets, one segment; 81 → parts of
        // 76 (152 septets: a 77th would need 154).
        assert_eq!(segments(&"€".repeat(80)).len(), 1);
        let euros = segments(&"€".repeat(81));
        assert_eq!(
            euros.iter().map(|s| s.chars().count()).collect::<Vec<_>>(),
            [76, 5]
        );
        // One non-GSM character makes it UCS-2: 70 units, then parts of 67.
        assert_eq!(encoding("Great run 🏃"), Encoding::Ucs2);
        assert_eq!(segments(&format!("{}ć", "a".repeat(69))).len(), 1);
        let ucs = segments(&format!("{}ć", "a".repeat(70)));
        assert_eq!(
            ucs.iter().map(|s| s.chars().count()).collect::<Vec<_>>(),
            [67, 4]
        );
        // Emoji are two UTF-16 units and never split.
        let emoji = segments(&"🏃".repeat(36)); // 72 units > 70
        assert_eq!(
            emoji.iter().map(|s| s.chars().count()).collect::<Vec<_>>(),
            [33, 3]
        );
        // Parts break after a space when one fits.
        let words = segments(&"word ".repeat(40)); // 200 characters
        assert_eq!(words[0].chars().count(), 150);
        assert!(words[0].ends_with(' '));
        assert_eq!(words.concat(), "word ".repeat(40));
        assert!(segments("").is_empty());
    }

    #[test]
    fn twiml_is_escaped() {
        assert_eq!(
            twiml(&["Fits <35 min> & \"easy\"\u{1}".to_owned()]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Fits &lt;35 min&gt; &amp; &quot;easy&quot;</Message></Response>"
        );
        assert_eq!(
            twiml(&[]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }

    proptest! {
        #[test]
        fn form_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_form(&body).map(|p| Inbound::from_params(&p));
        }

        #[test]
        fn segments_fit_and_rejoin(text in "\\PC{0,500}") {
            let parts = segments(&text);
            prop_assert_eq!(parts.concat(), text.clone());
            if parts.len() > 1 {
                for p in &parts {
                    let size: usize = match encoding(&text) {
                        Encoding::Gsm7 => p.chars().map(|c| gsm_septets(c).unwrap_or(2)).sum(),
                        Encoding::Ucs2 => p.chars().map(char::len_utf16).sum(),
                    };
                    let limit = if encoding(&text) == Encoding::Gsm7 { GSM_PART } else { UCS2_PART };
                    prop_assert!(size <= limit);
                }
            }
        }

        #[test]
        fn signatures_verify_only_themselves(body in "\\PC{0,100}", token in "[a-z0-9]{1,32}") {
            let p = params(&[("Body", &body), ("From", "+1")]);
            let sig = signature(URL, &p, &token);
            prop_assert!(verify_signature(URL, &p, &token, &sig));
            let other = params(&[("Body", &format!("{body}x")), ("From", "+1")]);
            prop_assert!(!verify_signature(URL, &other, &token, &sig));
        }
    }
}
