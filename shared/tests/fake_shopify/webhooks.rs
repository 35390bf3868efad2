//! The fake's webhook subscriptions: `webhookSubscriptionCreate(topic:, webhookSubscription:
//! {uri:})` and `webhookSubscriptions(first:, after:)`, as Shopify answers them: an address other
//! than `https://`, `pubsub://` or an EventBridge event source ARN is a user error, and so is a
//! second subscription of one topic to one address.

use serde_json::{Map, Value, json};

use super::{FakeShopify, Inner};

/// One subscription, as `webhookSubscriptions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSubscription {
    pub id: u64,
    /// The GraphQL enum name, e.g. `ORDERS_CREATE`.
    pub topic: String,
    pub uri: String,
}

#[derive(Default)]
pub(super) struct Subscriptions {
    list: Vec<FakeSubscription>,
    next_id: u64,
    creates: u64,
}

impl FakeShopify {
    /// The shop's subscriptions, in creation order.
    pub fn subscriptions(&self) -> Vec<FakeSubscription> {
        self.lock().subscriptions.list.clone()
    }

    /// Successful `webhookSubscriptionCreate` calls.
    pub fn subscription_creates(&self) -> u64 {
        self.lock().subscriptions.creates
    }

    /// Shopify dropped the subscription of `topic` (its deliveries kept failing).
    pub fn drop_subscription(&self, topic: &str) {
        self.lock().subscriptions.list.retain(|s| s.topic != topic);
    }
}

fn user_error(message: &str) -> Value {
    json!({"webhookSubscriptionCreate": {
        "webhookSubscription": null,
        "userErrors": [{"field": ["webhookSubscription", "uri"], "message": message}],
    }})
}

impl Inner {
    pub(super) fn subscription_create(
        &mut self,
        args: &Map<String, Value>,
    ) -> Result<Value, Value> {
        self.admit(10)?;
        let topic = args
            .get("topic")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uri = args
            .get("webhookSubscription")
            .and_then(|w| w.get("uri"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = if topic.is_empty()
            || !topic.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        {
            return Err(super::gql_error(
                &format!(
                    "Variable $topic of type WebhookSubscriptionTopic! was provided invalid value {topic:?}"
                ),
                "INVALID_VARIABLE",
            ));
        } else if !(uri.starts_with("https://")
            || uri.starts_with("pubsub://")
            || uri.starts_with("arn:aws:events:"))
        {
            let scheme = uri.split("://").next().unwrap_or_default();
            user_error(&format!("Address protocol {scheme}:// is not supported"))
        } else if self
            .subscriptions
            .list
            .iter()
            .any(|s| s.topic == topic && s.uri == uri)
        {
            user_error("Address for this topic has already been taken")
        } else {
            let subs = &mut self.subscriptions;
            subs.next_id += 1;
            subs.creates += 1;
            let s = FakeSubscription {
                id: subs.next_id,
                topic: topic.to_owned(),
                uri,
            };
            subs.list.push(s.clone());
            json!({"webhookSubscriptionCreate": {
                "webhookSubscription": node(&s),
                "userErrors": [],
            }})
        };
        Ok(self.charge(data, 10, 10))
    }

    pub(super) fn subscription_list(&mut self, args: &Map<String, Value>) -> Result<Value, Value> {
        let first = args.get("first").and_then(Value::as_u64).unwrap_or(0);
        if !(1..=250).contains(&first) {
            return Err(super::gql_error(
                "The field 'webhookSubscriptions' requires 'first' between 1 and 250",
                "BAD_REQUEST",
            ));
        }
        let cost = 2 + first;
        self.admit(cost)?;
        let start = match args.get("after").filter(|a| !a.is_null()) {
            None => 0,
            Some(a) => a
                .as_str()
                .and_then(|a| a.strip_prefix("sub:"))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| super::gql_error("Invalid cursor", "BAD_REQUEST"))?,
        };
        let list = &self.subscriptions.list;
        let end = (start + first as usize).min(list.len());
        let page: Vec<Value> = list
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(node)
            .collect();
        let returned = page.len() as u64;
        let data = json!({"webhookSubscriptions": {
            "nodes": page,
            "pageInfo": {"hasNextPage": end < list.len(), "endCursor": (end > start).then(|| format!("sub:{end}"))},
        }});
        Ok(self.charge(data, cost, 2 + returned))
    }
}

fn node(s: &FakeSubscription) -> Value {
    json!({"id": format!("gid://shopify/WebhookSubscription/{}", s.id), "topic": s.topic, "uri": s.uri})
}
