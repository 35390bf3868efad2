//! The local application: every port, built once per process for `insights serve` and the tests.
//! A Lambda builds only its own route's bundle instead ([`crate::deps`], [`crate::lambda`]).

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;

use crate::auth::token::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, ShopifyApp};
use crate::deps::{AppSecret, Deps, FromSecret, ShopifyApi, SigningKey};
use crate::secrets::{LocalSecrets, SecretError, SecretSource};
use crate::store::Store;
use crate::store::embedded::{EmbeddedStore, OpenError};
use crate::sync::SyncDeps;
use crate::sync::queue::{LocalQueue, NoQueue, SyncRequest};
use crate::sync::vault::{LocalVault, NoVault};

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
}

/// Every port of the service, for the process that serves every route (`insights serve`, tests).
/// Routes and jobs take the bundle they declare ([`crate::deps`]), never this.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The token signing key (fetched on first use).
    pub keys: SigningKey,
    /// The Shopify app's client secret (fetched on first use).
    pub app_secret: AppSecret,
    /// Shop tokens, the sync queue and the Admin API client's settings.
    pub sync: Arc<SyncDeps>,
    /// The app as OAuth knows it (client id, `APP_URL`, scopes).
    pub shopify_app: ShopifyApp,
    /// Rate limits (contract: "Limits").
    pub limits: crate::limits::RateLimits,
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
            keys: FromSecret::new(
                secrets.clone(),
                names.jwt,
                "token signing key",
                TokenKeys::from_secret,
            ),
            app_secret: FromSecret::new(
                secrets,
                names.shopify_api,
                "Shopify API secret",
                crate::deps::app_secret,
            ),
            sync: Arc::new(SyncDeps {
                vault: Arc::new(NoVault),
                queue: Arc::new(NoQueue),
                shopify_base_url: None,
                http: crate::shopify::http_client(),
                bulk_orders: false,
                bulk_poll: std::time::Duration::from_secs(1),
            }),
            shopify_app: ShopifyApp::default(),
            limits: crate::limits::RateLimits::default(),
        }
    }

    /// The same app with these OAuth settings.
    pub fn with_shopify_app(mut self, app: ShopifyApp) -> App {
        self.shopify_app = app;
        self
    }

    /// The OAuth side of the app as this app reaches Shopify.
    pub fn oauth(&self) -> crate::install::OAuthApp {
        crate::install::OAuthApp {
            app: self.shopify_app.clone(),
            base_url: self.sync.shopify_base_url.clone(),
        }
    }

    /// The same app with these sync dependencies.
    pub fn with_sync(mut self, deps: SyncDeps) -> App {
        self.sync = Arc::new(deps);
        self
    }

    /// The bundle `D` over this app's ports (a route's or a job's, as its Lambda would build it).
    pub fn deps<D: Deps>(&self) -> D {
        D::from_app(self)
    }

    /// Shopify's Admin API as this app reaches it.
    pub fn shopify(&self) -> ShopifyApi {
        ShopifyApi {
            http: self.sync.http.clone(),
            base_url: self.sync.shopify_base_url.clone(),
            webhook_uri: self.shopify_app.webhook_uri(),
        }
    }

    /// For `insights serve`: the embedded store and local secrets in `data_dir`. The signing key
    /// is read (or generated) now, so a bad data dir fails at start, not at the first login.
    /// Sync requests go to the returned receiver (the caller runs the worker).
    pub async fn local(
        data_dir: &Path,
        config: &Config,
    ) -> Result<(App, tokio::sync::mpsc::UnboundedReceiver<SyncRequest>), StartError> {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data_dir)?);
        App::local_on(store, data_dir, config).await
    }

    /// For `insights serve --store dynamodb`: the same over another store (local secrets and the
    /// sealed shop tokens' key material still in `data_dir`).
    pub async fn local_on(
        store: Arc<dyn Store>,
        data_dir: &Path,
        config: &Config,
    ) -> Result<(App, tokio::sync::mpsc::UnboundedReceiver<SyncRequest>), StartError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::Dir {
            path: data_dir.to_owned(),
            source,
        })?;
        let local = LocalSecrets::new(data_dir);
        let key = local.get(ENCRYPTION_KEY_VAR).await?;
        let secrets = Arc::new(local);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let deps = SyncDeps {
            vault: Arc::new(LocalVault::new(store.clone(), &key)),
            queue: Arc::new(LocalQueue(tx)),
            shopify_base_url: config.shopify_api_base_url.clone(),
            http: crate::shopify::http_client(),
            bulk_orders: true,
            bulk_poll: std::time::Duration::from_secs(2),
        };
        let app = App::new(store, secrets, SecretNames::local(), Arc::new(SystemClock))
            .with_sync(deps)
            .with_shopify_app(config.shopify_app(None));
        let app = App {
            limits: config.rate_limits()?,
            ..app
        };
        app.tokens().await?;
        app.shopify_secret().await?;
        Ok((app, rx))
    }

    /// The token keys (the signing key fetched on first use).
    pub async fn tokens(&self) -> Result<&TokenKeys, SecretError> {
        self.keys.get().await
    }

    /// The Shopify app's client secret (fetched on first use).
    pub async fn shopify_secret(&self) -> Result<&SecretString, SecretError> {
        self.app_secret.get().await
    }
}
