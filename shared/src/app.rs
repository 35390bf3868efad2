//! The application's dependencies, built once per process (a Lambda cold start, `insights serve`).
//! Secrets are fetched on first use and cached, so each function reads only the secrets it needs.

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::auth::token::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError, StoreConfig};
use crate::secrets::{LocalSecrets, SecretError, SecretSource, SecretsManager};
use crate::store::Store;
use crate::store::dynamo::DynamoStore;
use crate::store::embedded::{EmbeddedStore, OpenError};
use crate::sync::SyncDeps;
use crate::sync::queue::{EventBridgeQueue, LocalQueue, NoQueue, SyncRequest};
use crate::sync::vault::{LocalVault, NoVault, SecretsManagerVault};

/// Locally: the variable holding the token signing key (generated into the data dir when unset).
pub const JWT_SECRET_VAR: &str = "JWT_SECRET";
/// Locally: the key material that encrypts shop access tokens at rest (generated when unset).
pub const ENCRYPTION_KEY_VAR: &str = "INSIGHTS_ENCRYPTION_KEY";
/// Locally: the variable holding the Shopify app's client secret (webhook HMAC key).
pub const SHOPIFY_API_SECRET_VAR: &str = "SHOPIFY_API_SECRET";

/// The names under which the secret source keeps each secret.
#[derive(Clone, Debug)]
pub struct SecretNames {
    /// HS256 signing key for tokens.
    pub jwt: Option<String>,
    /// The Shopify app's client secret.
    pub shopify_api: Option<String>,
}

impl SecretNames {
    /// The local variable names (`JWT_SECRET`, `SHOPIFY_API_SECRET`).
    pub fn local() -> SecretNames {
        SecretNames {
            jwt: Some(JWT_SECRET_VAR.into()),
            shopify_api: Some(SHOPIFY_API_SECRET_VAR.into()),
        }
    }

    /// In Lambda: Secrets Manager ids from `JWT_SECRET_ID` and `SHOPIFY_API_SECRET_ID`.
    pub fn from_env() -> SecretNames {
        SecretNames {
            jwt: std::env::var("JWT_SECRET_ID").ok(),
            shopify_api: std::env::var("SHOPIFY_API_SECRET_ID").ok(),
        }
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Shop tokens, the sync queue and the Admin API client's settings.
    pub sync: Arc<SyncDeps>,
    secrets: Arc<dyn SecretSource>,
    names: Arc<SecretNames>,
    tokens: Arc<OnceCell<TokenKeys>>,
    shopify_secret: Arc<OnceCell<SecretString>>,
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
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretSource>,
        names: SecretNames,
        clock: Arc<dyn Clock>,
    ) -> App {
        App {
            store,
            clock,
            sync: Arc::new(SyncDeps {
                vault: Arc::new(NoVault),
                queue: Arc::new(NoQueue),
                shopify_base_url: None,
                http: reqwest::Client::new(),
                bulk_first_sync: false,
                bulk_poll: std::time::Duration::from_secs(1),
            }),
            secrets,
            names: Arc::new(names),
            tokens: Arc::new(OnceCell::new()),
            shopify_secret: Arc::new(OnceCell::new()),
        }
    }

    /// The same app with these sync dependencies.
    pub fn with_sync(mut self, deps: SyncDeps) -> App {
        self.sync = Arc::new(deps);
        self
    }

    /// For a Lambda: the DynamoDB table from `TABLE_NAME`, secrets from Secrets Manager.
    pub async fn from_env() -> Result<App, StartError> {
        let StoreConfig::Dynamo { table } = config::dynamo_from_env()? else {
            return Err(ConfigError::Missing("TABLE_NAME").into());
        };
        let sdk = config::aws().await;
        let secrets = Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
            &sdk,
        )));
        let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
        let prefix = std::env::var("TOKEN_SECRET_PREFIX")
            .unwrap_or_else(|_| "insights/shopify-token/".into());
        let bus = std::env::var("EVENT_BUS_NAME").unwrap_or_else(|_| "default".into());
        let deps = SyncDeps {
            vault: Arc::new(SecretsManagerVault::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                prefix,
            )),
            queue: Arc::new(EventBridgeQueue::new(
                aws_sdk_eventbridge::Client::new(&sdk),
                bus,
            )),
            shopify_base_url: std::env::var("SHOPIFY_API_BASE_URL").ok(),
            http: reqwest::Client::new(),
            bulk_first_sync: true,
            bulk_poll: std::time::Duration::from_secs(5),
        };
        Ok(App::new(
            store,
            secrets,
            SecretNames::from_env(),
            Arc::new(SystemClock),
        )
        .with_sync(deps))
    }

    /// For `insights serve`: the embedded store and local secrets in `data_dir`. The signing key
    /// is read (or generated) now, so a bad data dir fails at start, not at the first login.
    /// Sync requests go to the returned receiver (the caller runs the worker).
    pub async fn local(
        data_dir: &Path,
    ) -> Result<(App, tokio::sync::mpsc::UnboundedReceiver<SyncRequest>), StartError> {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data_dir)?);
        let local = LocalSecrets::new(data_dir);
        let key = local.get(ENCRYPTION_KEY_VAR).await?;
        let secrets = Arc::new(local);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let deps = SyncDeps {
            vault: Arc::new(LocalVault::new(store.clone(), &key)),
            queue: Arc::new(LocalQueue(tx)),
            shopify_base_url: std::env::var("SHOPIFY_API_BASE_URL").ok(),
            http: reqwest::Client::new(),
            bulk_first_sync: true,
            bulk_poll: std::time::Duration::from_secs(2),
        };
        let app =
            App::new(store, secrets, SecretNames::local(), Arc::new(SystemClock)).with_sync(deps);
        app.tokens().await?;
        app.shopify_secret().await?;
        Ok((app, rx))
    }

    async fn secret(
        &self,
        name: &Option<String>,
        what: &'static str,
    ) -> Result<SecretString, SecretError> {
        let name = name.as_deref().ok_or_else(|| SecretError::NotFound {
            name: format!("{what} (its id is not configured)"),
        })?;
        self.secrets.get(name).await
    }

    /// The token keys (the signing key fetched on first use).
    pub async fn tokens(&self) -> Result<&TokenKeys, SecretError> {
        self.tokens
            .get_or_try_init(|| async {
                let key = self.secret(&self.names.jwt, "token signing key").await?;
                Ok(TokenKeys::new(&key))
            })
            .await
    }

    /// The Shopify app's client secret (fetched on first use).
    pub async fn shopify_secret(&self) -> Result<&SecretString, SecretError> {
        self.shopify_secret
            .get_or_try_init(|| self.secret(&self.names.shopify_api, "Shopify API secret"))
            .await
    }
}
