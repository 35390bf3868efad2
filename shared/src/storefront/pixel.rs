//! Web Pixels events as a custom pixel or an app pixel sends them (`POST /events`): one event or
//! `{"events": [...]}`. A malformed event is rejected alone; the batch is refused only when it is
//! not JSON, not one of those two shapes, or over its limits.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::checkout::valid_token;

/// At most this many events in one request.
pub const MAX_EVENTS: usize = 100;
/// At most this many bytes in one request.
pub const MAX_BODY: usize = 256 * 1024;
pub const MAX_ID_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_CLIENT_CHARS: usize = 128;
/// A custom event's `data` is kept in the log up to this size (as JSON).
pub const MAX_KEPT_DATA: usize = 2048;

/// What an event counts for in the funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Any event: the session exists.
    Seen,
    AddedToCart,
    CheckoutStarted,
    /// `checkout_contact_info_submitted`: the buyer gave an email or phone.
    ContactGiven,
    CheckoutCompleted,
}

/// One parsed storefront event.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelEvent {
    pub id: String,
    pub name: String,
    /// When it happened (UTC, never later than its arrival).
    pub at: DateTime<Utc>,
    pub client: String,
    pub step: Step,
    pub checkout: Option<PixelCheckout>,
    /// What the event log keeps of it (no contact details).
    pub metadata: Map<String, Value>,
}

/// `data.checkout` of a checkout event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelCheckout {
    pub token: String,
    pub total: Option<Decimal>,
    pub currency: Option<String>,
    pub contact: bool,
}

/// Why the whole request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BatchError {
    pub code: &'static str,
    pub message: String,
}

fn batch_error(code: &'static str, message: impl Into<String>) -> BatchError {
    BatchError {
        code,
        message: message.into(),
    }
}

/// Parses a request body into its events, each parsed or rejected on its own.
pub fn parse_batch(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Option<PixelEvent>>, BatchError> {
    if body.len() > MAX_BODY {
        return Err(batch_error("body_too_large", "the body is over 256 KiB"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| batch_error("invalid_json", "the body is not JSON"))?;
    let events = match value {
        Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(Value::Array(a)) => a,
            _ => return Err(batch_error("invalid_events", "events must be an array")),
        },
        Value::Object(o) => vec![Value::Object(o)],
        _ => {
            return Err(batch_error(
                "invalid_events",
                "the body is one event or {\"events\": [...]}",
            ));
        }
    };
    if events.len() > MAX_EVENTS {
        return Err(batch_error(
            "too_many_events",
            format!("at most {MAX_EVENTS} events per request"),
        ));
    }
    Ok(events.iter().map(|e| parse_event(e, now)).collect())
}

fn bounded_text(v: Option<&Value>, max: usize) -> Option<String> {
    let s = v?.as_str()?.trim();
    (!s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control))
        .then(|| s.to_owned())
}

/// An amount as the Web Pixels API gives it: a number or a decimal string, never negative.
fn amount(v: Option<&Value>) -> Option<Decimal> {
    let d = match v? {
        Value::Number(n) => n.to_string().parse::<Decimal>().ok()?,
        Value::String(s) => s.trim().parse::<Decimal>().ok()?,
        _ => return None,
    };
    (d >= Decimal::ZERO && d < Decimal::from(1_000_000_000_000i64)).then(|| d.round_dp(2))
}

/// One event; `None` when it is not a usable event.
pub fn parse_event(e: &Value, now: DateTime<Utc>) -> Option<PixelEvent> {
    let o = e.as_object()?;
    let id = bounded_text(o.get("id"), MAX_ID_CHARS)?;
    let name = bounded_text(o.get("name"), MAX_NAME_CHARS)?;
    let client = bounded_text(o.get("clientId"), MAX_CLIENT_CHARS)?;
    let at = DateTime::parse_from_rfc3339(o.get("timestamp")?.as_str()?)
        .ok()?
        .with_timezone(&Utc)
        // A visitor's clock ahead of ours is dated at the arrival.
        .min(now);
    let data = o.get("data").and_then(Value::as_object);
    let checkout = data
        .and_then(|d| d.get("checkout"))
        .and_then(Value::as_object)
        .and_then(|c| {
            let token = c.get("token").and_then(Value::as_str)?.to_owned();
            if !valid_token(&token) {
                return None;
            }
            let price = c.get("totalPrice").and_then(Value::as_object);
            let has = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.trim().is_empty())
            };
            Some(PixelCheckout {
                token,
                total: amount(price.and_then(|p| p.get("amount"))),
                currency: price
                    .and_then(|p| p.get("currencyCode"))
                    .and_then(|c| bounded_text(Some(c), 8)),
                contact: has("email") || has("phone"),
            })
        });
    let step = match name.as_str() {
        "product_added_to_cart" => Step::AddedToCart,
        "checkout_started" => Step::CheckoutStarted,
        "checkout_contact_info_submitted" => Step::ContactGiven,
        "checkout_completed" => Step::CheckoutCompleted,
        _ => Step::Seen,
    };
    // A checkout step without a usable checkout is still a session's event, but counts no step
    // that needs the checkout's token.
    let mut metadata = Map::new();
    metadata.insert("client_id".into(), Value::String(client.clone()));
    if let Some(c) = &checkout {
        metadata.insert("checkout_token".into(), Value::String(c.token.clone()));
        if let Some(t) = c.total {
            metadata.insert("total_price".into(), Value::String(t.to_string()));
        }
        if let Some(cur) = &c.currency {
            metadata.insert("currency".into(), Value::String(cur.clone()));
        }
    } else if let Some(d) = data {
        // Custom and browsing events keep their data, without contact details, when small.
        let mut kept = Value::Object(d.clone());
        strip_personal(&mut kept);
        if serde_json::to_vec(&kept).is_ok_and(|b| b.len() <= MAX_KEPT_DATA) {
            metadata.insert("data".into(), kept);
        }
    }
    Some(PixelEvent {
        id,
        name,
        at,
        client,
        step,
        checkout,
        metadata,
    })
}

/// Removes contact details and addresses wherever they appear.
fn strip_personal(v: &mut Value) {
    const PERSONAL: [&str; 8] = [
        "email",
        "phone",
        "firstName",
        "lastName",
        "address1",
        "address2",
        "billingAddress",
        "shippingAddress",
    ];
    match v {
        Value::Object(o) => {
            o.retain(|k, _| !PERSONAL.contains(&k.as_str()));
            o.values_mut().for_each(strip_personal);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_personal),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap_or_default()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_checkout_event_keeps_its_token_and_total_and_not_the_buyers_email() {
        let e = json!({"id": "e1", "name": "checkout_started", "timestamp": "2026-11-29T10:00:00.123Z",
            "clientId": "c1", "data": {"checkout": {"token": "abc123", "email": "a@b.c",
            "totalPrice": {"amount": 42.5, "currencyCode": "USD"}}}});
        let p = parse_event(&e, now()).unwrap();
        assert_eq!(p.step, Step::CheckoutStarted);
        let c = p.checkout.unwrap();
        assert_eq!(
            (c.token.as_str(), c.total, c.contact),
            ("abc123", Some(Decimal::new(4250, 2)), true)
        );
        assert!(
            !serde_json::to_string(&p.metadata)
                .unwrap()
                .contains("a@b.c")
        );
    }

    #[test]
    fn a_malformed_event_is_rejected_alone_and_a_bad_batch_whole() {
        let body = json!({"events": [
            {"id": "e1", "name": "page_viewed", "timestamp": "2026-11-29T10:00:00Z", "clientId": "c1"},
            {"id": "", "name": "page_viewed", "timestamp": "2026-11-29T10:00:00Z", "clientId": "c1"},
            {"id": "e3", "name": "page_viewed", "timestamp": "yesterday", "clientId": "c1"},
            "not an event",
        ]});
        let parsed = parse_batch(&serde_json::to_vec(&body).unwrap(), now()).unwrap();
        assert_eq!(parsed.iter().filter(|e| e.is_some()).count(), 1);
        assert_eq!(
            parse_batch(b"[1,2]", now()).unwrap_err().code,
            "invalid_events"
        );
        assert_eq!(parse_batch(b"{", now()).unwrap_err().code, "invalid_json");
        let many = json!({"events": vec![json!({}); 101]});
        assert_eq!(
            parse_batch(&serde_json::to_vec(&many).unwrap(), now())
                .unwrap_err()
                .code,
            "too_many_events"
        );
    }

    #[test]
    fn a_visitor_clock_ahead_of_ours_is_dated_at_the_arrival() {
        let e =
            json!({"id": "e1", "name": "x", "timestamp": "2027-01-01T00:00:00Z", "clientId": "c"});
        assert_eq!(parse_event(&e, now()).unwrap().at, now());
    }

    proptest! {
        #[test]
        fn any_body_parses_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_batch(&body, now());
        }

        #[test]
        fn any_json_event_parses_without_panicking(
            id in proptest::option::of(".{0,300}"),
            name in proptest::option::of(".{0,80}"),
            ts in proptest::option::of(".{0,40}"),
            token in proptest::option::of(".{0,200}"),
            amount in proptest::option::of(any::<f64>()),
        ) {
            let e = json!({"id": id, "name": name, "timestamp": ts, "clientId": "c",
                "data": {"checkout": {"token": token, "totalPrice": {"amount": amount}}}});
            if let Some(p) = parse_event(&e, now()) {
                prop_assert!(p.id.chars().count() <= MAX_ID_CHARS);
                prop_assert!(p.at <= now());
                if let Some(c) = p.checkout {
                    prop_assert!(valid_token(&c.token));
                    prop_assert!(c.total.is_none_or(|t| t >= Decimal::ZERO));
                }
            }
        }
    }
}
