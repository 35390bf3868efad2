//! The application's dependencies, built once per process (a Lambda cold start, `insights serve`).

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;

use crate::auth::token::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError, StoreConfig};
use crate::secrets::{LocalSecrets, SecretError, SecretSource, SecretsManager};
use crate::store::Store;
use crate::store::dynamo::DynamoStore;
use crate::store::embedded::{EmbeddedStore, OpenError};

/// Locally: the variable holding the token signing key (generated into the data dir when unset).
pub const JWT_SECRET_VAR: &str = "JWT_SECRET";
/// In Lambda: the variable naming the Secrets Manager secret with the token signing key.
pub const JWT_SECRET_ID_VAR: &str = "JWT_SECRET_ID";

/// What handlers share.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenKeys>,
    pub clock: Arc<dyn Clock>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl App {
    pub fn new(store: Arc<dyn Store>, jwt_secret: &SecretString, clock: Arc<dyn Clock>) -> App {
        App {
            store,
            tokens: Arc::new(TokenKeys::new(jwt_secret)),
            clock,
        }
    }

    /// For a Lambda: the DynamoDB table from `TABLE_NAME`, secrets from Secrets Manager.
    pub async fn from_env() -> Result<App, StartError> {
        let StoreConfig::Dynamo { table } = config::dynamo_from_env()? else {
            return Err(ConfigError::Missing("TABLE_NAME").into());
        };
        let sdk = config::aws().await;
        let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk));
        let jwt_id = std::env::var(JWT_SECRET_ID_VAR)
            .map_err(|_| ConfigError::Missing(JWT_SECRET_ID_VAR))?;
        let jwt = secrets.get(&jwt_id).await?;
        let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
        Ok(App::new(store, &jwt, Arc::new(SystemClock)))
    }

    /// For `insights serve`: the embedded store and local secrets in `data_dir`.
    pub async fn local(data_dir: &Path) -> Result<App, StartError> {
        let store = Arc::new(EmbeddedStore::open(data_dir)?);
        let jwt = LocalSecrets::new(data_dir).get(JWT_SECRET_VAR).await?;
        Ok(App::new(store, &jwt, Arc::new(SystemClock)))
    }
}
