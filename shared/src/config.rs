//! Configuration read once at start-up (composition roots only; handlers never read the environment).
//!
//! Every variable the service reads is a field here. A value a route does not use may be absent:
//! what is required is checked when the port that needs it is built ([`ConfigError::Missing`]).

/// What the process was started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table (set by `template.yaml` on every function that uses it).
    /// The endpoint comes from the SDK's own configuration (`AWS_ENDPOINT_URL_DYNAMODB` for
    /// DynamoDB Local), never from code.
    pub table: Option<String>,
    /// `JWT_SECRET_ID`: the Secrets Manager id of the token signing key.
    pub jwt_secret_id: Option<String>,
    /// `SHOPIFY_API_SECRET_ID`: the Secrets Manager id of the Shopify app's client secret.
    pub shopify_api_secret_id: Option<String>,
    /// `EVENT_BUS_NAME`: the bus sync requests go to.
    pub event_bus: Option<String>,
    /// `TOKEN_SECRET_PREFIX`: the name prefix of the per-tenant shop token secrets.
    pub token_secret_prefix: Option<String>,
    /// `SHOPIFY_API_BASE_URL`: replaces `https://{shop}` (tests and local fakes only), the OAuth
    /// endpoints included.
    pub shopify_api_base_url: Option<String>,
    /// `SHOPIFY_API_KEY`: the app's client id (OAuth).
    pub shopify_api_key: Option<String>,
    /// `APP_URL`: the service's public base URL (the OAuth `redirect_uri` is under it).
    pub app_url: Option<String>,
    /// `SHOPIFY_SCOPES`: the access scopes the app asks for, comma-separated
    /// ([`DEFAULT_SCOPES`] when unset).
    pub shopify_scopes: Option<String>,
    /// `SHOPIFY_EVENT_SOURCE_ARN`: the EventBridge partner event source shops deliver webhooks to;
    /// unset: they deliver to `{APP_URL}/webhooks`.
    pub shopify_event_source_arn: Option<String>,
    /// `RATE_LIMIT_PER_MINUTE`: requests a tenant may make a minute (600 when unset).
    pub rate_limit_per_minute: Option<String>,
    /// `AUTH_RATE_LIMIT_PER_MINUTE`: `POST /auth/*` a client address may make a minute (30).
    pub auth_rate_limit_per_minute: Option<String>,
    /// `REGISTRATIONS_PER_HOUR`: registrations a client address may make an hour (20).
    pub registrations_per_hour: Option<String>,
    /// `INGEST_RATE_LIMIT_PER_MINUTE`: `POST /events` requests one ingest key may make a minute
    /// (12,000 when unset).
    pub ingest_rate_limit_per_minute: Option<String>,
}

/// The scopes asked for when `SHOPIFY_SCOPES` is unset: what the service reads (orders,
/// customers, products, storefront customer events). Checkouts are read under `read_orders`
/// (their webhooks and `abandonedCheckouts` need it), so no scope of their own is asked for.
pub const DEFAULT_SCOPES: &[&str] = &[
    "read_orders",
    "read_customers",
    "read_products",
    "read_customer_events",
];

/// The names of the variables [`Config`] reads.
pub const VARIABLES: [&str; 14] = [
    "TABLE_NAME",
    "JWT_SECRET_ID",
    "SHOPIFY_API_SECRET_ID",
    "EVENT_BUS_NAME",
    "TOKEN_SECRET_PREFIX",
    "SHOPIFY_API_BASE_URL",
    "SHOPIFY_API_KEY",
    "APP_URL",
    "SHOPIFY_SCOPES",
    "SHOPIFY_EVENT_SOURCE_ARN",
    "RATE_LIMIT_PER_MINUTE",
    "AUTH_RATE_LIMIT_PER_MINUTE",
    "INGEST_RATE_LIMIT_PER_MINUTE",
    "REGISTRATIONS_PER_HOUR",
];

/// Errors in the start-up configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} must be a whole number above zero")]
    Invalid(&'static str),
}

impl Config {
    /// Reads every variable once.
    pub fn from_env() -> Config {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads every variable through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        Config {
            table: get("TABLE_NAME"),
            jwt_secret_id: get("JWT_SECRET_ID"),
            shopify_api_secret_id: get("SHOPIFY_API_SECRET_ID"),
            event_bus: get("EVENT_BUS_NAME"),
            token_secret_prefix: get("TOKEN_SECRET_PREFIX"),
            shopify_api_base_url: get("SHOPIFY_API_BASE_URL"),
            shopify_api_key: get("SHOPIFY_API_KEY"),
            app_url: get("APP_URL"),
            shopify_scopes: get("SHOPIFY_SCOPES"),
            shopify_event_source_arn: get("SHOPIFY_EVENT_SOURCE_ARN"),
            rate_limit_per_minute: get("RATE_LIMIT_PER_MINUTE"),
            auth_rate_limit_per_minute: get("AUTH_RATE_LIMIT_PER_MINUTE"),
            registrations_per_hour: get("REGISTRATIONS_PER_HOUR"),
            ingest_rate_limit_per_minute: get("INGEST_RATE_LIMIT_PER_MINUTE"),
        }
    }

    /// The rate limits: the defaults, or what the variables set (a count above zero).
    pub fn rate_limits(&self) -> Result<crate::limits::RateLimits, ConfigError> {
        use crate::limits::Limit;
        let d = crate::limits::RateLimits::default();
        let read = |v: &Option<String>, name: &'static str, default: Limit| match v {
            None => Ok(default),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(max) if max > 0 => Ok(Limit { max, ..default }),
                _ => Err(ConfigError::Invalid(name)),
            },
        };
        Ok(crate::limits::RateLimits {
            tenant: read(
                &self.rate_limit_per_minute,
                "RATE_LIMIT_PER_MINUTE",
                d.tenant,
            )?,
            auth_client: read(
                &self.auth_rate_limit_per_minute,
                "AUTH_RATE_LIMIT_PER_MINUTE",
                d.auth_client,
            )?,
            registrations: read(
                &self.registrations_per_hour,
                "REGISTRATIONS_PER_HOUR",
                d.registrations,
            )?,
            ingest: read(
                &self.ingest_rate_limit_per_minute,
                "INGEST_RATE_LIMIT_PER_MINUTE",
                d.ingest,
            )?,
        })
    }

    /// The scopes the app asks for and requires (`SHOPIFY_SCOPES`, else [`DEFAULT_SCOPES`]).
    pub fn scopes(&self) -> Vec<String> {
        match self.shopify_scopes.as_deref() {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The app's OAuth settings; `local_url` stands in for an unset `APP_URL` (`insights serve`).
    pub fn shopify_app(&self, local_url: Option<&str>) -> ShopifyApp {
        ShopifyApp {
            client_id: self
                .shopify_api_key
                .clone()
                .unwrap_or_else(|| LOCAL_CLIENT_ID.to_owned()),
            app_url: self
                .app_url
                .as_deref()
                .or(local_url)
                .unwrap_or(LOCAL_APP_URL)
                .trim_end_matches('/')
                .to_owned(),
            scopes: self.scopes(),
            event_source_arn: self.shopify_event_source_arn.clone(),
        }
    }
}

/// The client id used when `SHOPIFY_API_KEY` is unset (local runs and tests only).
pub const LOCAL_CLIENT_ID: &str = "insights-local-client";
/// The base URL used when `APP_URL` is unset and no local address is known.
pub const LOCAL_APP_URL: &str = "http://127.0.0.1:3000";

/// The Shopify app as OAuth knows it: its client id, where it is served, the scopes it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopifyApp {
    pub client_id: String,
    /// No trailing slash.
    pub app_url: String,
    pub scopes: Vec<String>,
    /// Where shops deliver webhooks when it is EventBridge (else `{app_url}/webhooks`).
    pub event_source_arn: Option<String>,
}

impl Default for ShopifyApp {
    fn default() -> ShopifyApp {
        Config::default().shopify_app(None)
    }
}

impl ShopifyApp {
    /// `{APP_URL}/shopify/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/shopify/callback", self.app_url)
    }

    /// The address every shop's webhook subscriptions point at: the EventBridge partner event
    /// source when configured, else `{APP_URL}/webhooks`.
    pub fn webhook_uri(&self) -> String {
        match &self.event_source_arn {
            Some(arn) => arn.clone(),
            None => format!("{}/webhooks", self.app_url),
        }
    }
}

impl Config {
    /// The table, required by every port over the store.
    pub fn table(&self) -> Result<&str, ConfigError> {
        self.table
            .as_deref()
            .ok_or(ConfigError::Missing("TABLE_NAME"))
    }

    /// The bus sync requests go to (EventBridge's `default` bus when unset).
    pub fn event_bus(&self) -> &str {
        self.event_bus.as_deref().unwrap_or("default")
    }

    /// The token secrets' name prefix (`insights/shopify-token/` when unset).
    pub fn token_secret_prefix(&self) -> &str {
        self.token_secret_prefix
            .as_deref()
            .unwrap_or("insights/shopify-token/")
    }
}

/// The shared AWS configuration (region, credentials and per-service endpoints from the
/// environment, as the SDK reads them).
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_variable_is_read_and_an_empty_one_counts_as_absent() {
        let env: HashMap<&str, &str> = VARIABLES.iter().map(|k| (*k, "x")).collect();
        let c = Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()));
        assert_eq!(c.table.as_deref(), Some("x"));
        assert_eq!(c.shopify_api_base_url.as_deref(), Some("x"));
        assert_eq!(c.shopify_api_key.as_deref(), Some("x"));
        assert_eq!(c.app_url.as_deref(), Some("x"));
        assert_eq!(c.scopes(), vec!["x".to_owned()]);
        let empty = Config::from_lookup(|_| Some(String::new()));
        assert_eq!(empty, Config::default());
        assert!(matches!(
            empty.table(),
            Err(ConfigError::Missing("TABLE_NAME"))
        ));
    }

    #[test]
    fn rate_limits_are_the_defaults_unless_set_and_a_bad_value_is_refused() {
        let d = Config::default().rate_limits().unwrap();
        assert_eq!(d, crate::limits::RateLimits::default());
        let set = Config::from_lookup(|k| (k == "RATE_LIMIT_PER_MINUTE").then(|| "1200".into()));
        let l = set.rate_limits().unwrap();
        assert_eq!(l.tenant.max, 1200);
        assert_eq!(l.tenant.window_seconds, 60);
        assert_eq!(l.auth_client, d.auth_client);
        for bad in ["0", "-1", "lots"] {
            let c = Config::from_lookup(|k| (k == "REGISTRATIONS_PER_HOUR").then(|| bad.into()));
            assert!(matches!(
                c.rate_limits(),
                Err(ConfigError::Invalid("REGISTRATIONS_PER_HOUR"))
            ));
        }
    }

    #[test]
    fn the_oauth_settings_default_to_the_local_server_and_the_read_scopes() {
        let app = Config::default().shopify_app(Some("http://127.0.0.1:4000/"));
        assert_eq!(app.app_url, "http://127.0.0.1:4000");
        assert_eq!(app.redirect_uri(), "http://127.0.0.1:4000/shopify/callback");
        assert_eq!(app.scopes, DEFAULT_SCOPES);
        assert_eq!(app.webhook_uri(), "http://127.0.0.1:4000/webhooks");
        let set = Config::from_lookup(|k| match k {
            "APP_URL" => Some("https://insights.example".into()),
            "SHOPIFY_SCOPES" => Some(" read_orders, write_pixels ,".into()),
            "SHOPIFY_API_KEY" => Some("abc".into()),
            "SHOPIFY_EVENT_SOURCE_ARN" => Some(
                "arn:aws:events:us-east-1::event-source/aws.partner/shopify.com/1/insights".into(),
            ),
            _ => None,
        })
        .shopify_app(Some("http://127.0.0.1:4000"));
        assert_eq!(set.app_url, "https://insights.example");
        assert_eq!(set.scopes, ["read_orders", "write_pixels"]);
        assert_eq!(set.client_id, "abc");
        assert_eq!(
            set.webhook_uri(),
            "arn:aws:events:us-east-1::event-source/aws.partner/shopify.com/1/insights"
        );
    }
}
