//! The application's dependencies, built once per process (a Lambda cold start, `insights serve`).

use std::sync::Arc;

use crate::config::{self, ConfigError, StoreConfig};
use crate::store::Store;
use crate::store::dynamo::DynamoStore;
use crate::store::embedded::{EmbeddedStore, OpenError};

/// What handlers share: the store (and, as capabilities land, secrets and clients).
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] OpenError),
}

impl App {
    /// Over any store (tests, benchmarks).
    pub fn new(store: Arc<dyn Store>) -> App {
        App { store }
    }

    /// For a Lambda: the DynamoDB table from `TABLE_NAME`.
    pub async fn from_env() -> Result<App, StartError> {
        let cfg = config::dynamo_from_env()?;
        App::from_config(&cfg).await
    }

    pub async fn from_config(cfg: &StoreConfig) -> Result<App, StartError> {
        let store: Arc<dyn Store> = match cfg {
            StoreConfig::Embedded { data_dir } => Arc::new(EmbeddedStore::open(data_dir)?),
            StoreConfig::Dynamo { table } => {
                let sdk = config::aws().await;
                Arc::new(DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    table.clone(),
                ))
            }
        };
        Ok(App::new(store))
    }
}
