//! Configuration read once at start-up (composition roots only; handlers never read the environment).

use std::path::PathBuf;

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// The embedded store in this directory (`insights serve`).
    Embedded { data_dir: PathBuf },
    /// A DynamoDB table; the endpoint comes from the SDK's own configuration
    /// (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), never from code.
    Dynamo { table: String },
}

/// Errors in the start-up configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
}

/// The DynamoDB table named by `TABLE_NAME` (set by `template.yaml` on every function).
pub fn dynamo_from_env() -> Result<StoreConfig, ConfigError> {
    let table = std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))?;
    Ok(StoreConfig::Dynamo { table })
}

/// The shared AWS configuration (region, credentials and per-service endpoints from the
/// environment, as the SDK reads them).
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
