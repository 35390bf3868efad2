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
    /// `SHOPIFY_API_BASE_URL`: replaces `https://{shop}` (tests and local fakes only).
    pub shopify_api_base_url: Option<String>,
}

/// The names of the variables [`Config`] reads.
pub const VARIABLES: [&str; 6] = [
    "TABLE_NAME",
    "JWT_SECRET_ID",
    "SHOPIFY_API_SECRET_ID",
    "EVENT_BUS_NAME",
    "TOKEN_SECRET_PREFIX",
    "SHOPIFY_API_BASE_URL",
];

/// Errors in the start-up configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
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
        }
    }

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
        let empty = Config::from_lookup(|_| Some(String::new()));
        assert_eq!(empty, Config::default());
        assert!(matches!(
            empty.table(),
            Err(ConfigError::Missing("TABLE_NAME"))
        ));
    }
}
