//! A shop's webhook subscriptions: every topic the service handles registered with
//! `webhookSubscriptionCreate` to one address (`{APP_URL}/webhooks`, or the EventBridge partner
//! event source), idempotently: what the shop already sends there is left alone. The compliance
//! topics cannot be subscribed per shop; `shopify.app.toml` declares them for the whole app.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Shopify, ShopifyError};
use crate::ingest::Topic;

/// Pages of existing subscriptions read at most (100 each): far past the topics there are.
const MAX_PAGES: usize = 10;

const LIST: &str = "query Subscriptions($after: String) { webhookSubscriptions(first: 100, after: $after) { nodes { id topic uri } pageInfo { hasNextPage endCursor } } }";

const CREATE: &str = "mutation Subscribe($topic: WebhookSubscriptionTopic!, $uri: String!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri}) { webhookSubscription { id topic uri } userErrors { field message } } }";

/// The topics subscribed per shop: every handled topic but the compliance ones.
pub fn topics() -> impl Iterator<Item = Topic> {
    Topic::all().filter(|t| !t.is_compliance())
}

/// `orders/partially_fulfilled` → `ORDERS_PARTIALLY_FULFILLED`.
pub fn graphql_topic(topic: Topic) -> String {
    topic.as_str().replace('/', "_").to_ascii_uppercase()
}

/// What [`ensure`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscribed {
    pub created: usize,
    pub existing: usize,
}

/// Subscribes the shop to every topic of [`topics`] at `uri`; a topic already subscribed there is
/// not created again.
pub async fn ensure(client: &Shopify, uri: &str) -> Result<Subscribed, ShopifyError> {
    let have = existing(client, uri).await?;
    let mut done = Subscribed::default();
    for topic in topics() {
        let name = graphql_topic(topic);
        if have.contains(&name) {
            done.existing += 1;
            continue;
        }
        let data = client
            .query(CREATE, json!({ "topic": name, "uri": uri }))
            .await?;
        let errors = data
            .pointer("/webhookSubscriptionCreate/userErrors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if errors.is_empty() {
            done.created += 1;
            continue;
        }
        let text = Value::Array(errors).to_string();
        // Created concurrently by another connect: the subscription is there.
        if text.contains("already been taken") {
            done.existing += 1;
            continue;
        }
        return Err(ShopifyError::Protocol(format!(
            "webhookSubscriptionCreate({name}): {}",
            text.chars().take(300).collect::<String>()
        )));
    }
    Ok(done)
}

/// The topics (GraphQL names) the shop already delivers to `uri`.
async fn existing(client: &Shopify, uri: &str) -> Result<HashSet<String>, ShopifyError> {
    let mut have = HashSet::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let data = client.query(LIST, json!({ "after": after })).await?;
        let subs = data
            .get("webhookSubscriptions")
            .ok_or_else(|| ShopifyError::Protocol("no webhookSubscriptions".into()))?;
        for node in subs
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if node.get("uri").and_then(Value::as_str) == Some(uri)
                && let Some(t) = node.get("topic").and_then(Value::as_str)
            {
                have.insert(t.to_owned());
            }
        }
        let page = subs.get("pageInfo");
        let more = page
            .and_then(|p| p.get("hasNextPage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        after = page
            .and_then(|p| p.get("endCursor"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if !more || after.is_none() {
            break;
        }
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_named_as_the_graphql_enum_names_them() {
        assert_eq!(graphql_topic(Topic::OrdersCreate), "ORDERS_CREATE");
        assert_eq!(
            graphql_topic(Topic::OrdersPartiallyFulfilled),
            "ORDERS_PARTIALLY_FULFILLED"
        );
        assert_eq!(graphql_topic(Topic::AppUninstalled), "APP_UNINSTALLED");
    }

    #[test]
    fn the_compliance_topics_are_not_subscribed_per_shop_and_uninstall_is() {
        let names: Vec<&str> = topics().map(Topic::as_str).collect();
        assert!(names.contains(&"app/uninstalled"));
        assert!(names.contains(&"orders/paid"));
        for c in ["customers/data_request", "customers/redact", "shop/redact"] {
            assert!(!names.contains(&c), "{c} is declared in shopify.app.toml");
        }
    }
}
