//! The ports a use case is handed, and the bundles of them each route or job declares.
//!
//! A bundle holds exactly the ports its routes use. It is built two ways: from the environment
//! in a Lambda ([`Deps::build`], which creates only the clients the bundle holds, so `health`
//! builds none and links none), and from the local [`App`] under `insights serve` and in tests
//! ([`Deps::from_app`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::App;
use crate::app::StartError;
use crate::auth::token::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::ShopDomain;
use crate::secrets::{SecretError, SecretSource, SecretsManager};
use crate::shopify::Shopify;
use crate::store::Store;
use crate::store::dynamo::DynamoStore;
use crate::sync::queue::{EventBridgeQueue, SyncQueue};
use crate::sync::vault::{SecretsManagerVault, TokenVault};

/// A port: something a use case reads, writes or calls besides its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    Store,
    Clock,
    /// The token signing key (also seals page cursors).
    SigningKey,
    /// The Shopify app's client secret (webhook HMAC).
    AppSecret,
    /// Shop access tokens.
    Vault,
    /// Sync requests.
    Queue,
    /// Shopify's Admin API.
    ShopifyApi,
}

/// What a route or job needs, as its function's grants say it: a [`Port`] with its access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The table, read only.
    TableRead,
    /// Rate-limit counters in the table (one `UpdateItem` per request): what an authenticated
    /// read-only function writes.
    Counters,
    /// The table, read and write.
    TableWrite,
    Clock,
    SigningKey,
    AppSecret,
    /// These Secrets Manager actions on the shop token secrets.
    Vault(&'static [&'static str]),
    Queue,
    ShopifyApi,
}

impl Need {
    /// The port this need is met by.
    pub fn port(self) -> Port {
        match self {
            Need::TableRead | Need::TableWrite | Need::Counters => Port::Store,
            Need::Clock => Port::Clock,
            Need::SigningKey => Port::SigningKey,
            Need::AppSecret => Port::AppSecret,
            Need::Vault(_) => Port::Vault,
            Need::Queue => Port::Queue,
            Need::ShopifyApi => Port::ShopifyApi,
        }
    }

    /// The IAM grants it takes, named as `tests/deploy.rs` reads them off `template.yaml`.
    pub fn grants(self) -> Vec<String> {
        match self {
            Need::TableRead => vec!["table:read".into()],
            Need::Counters => vec!["table:count".into()],
            Need::TableWrite => vec!["table:write".into()],
            Need::SigningKey => vec!["secret:jwt".into()],
            Need::AppSecret => vec!["secret:shopify".into()],
            Need::Queue => vec!["events:put".into()],
            Need::Vault(actions) => actions.iter().map(|a| format!("tokens:{a}")).collect(),
            Need::Clock | Need::ShopifyApi => vec![],
        }
    }
}

/// A value made from a secret, fetched on first use and kept for the life of the process (a
/// Lambda execution environment): each function reads only the secrets it uses.
pub struct FromSecret<T> {
    source: Arc<dyn SecretSource>,
    name: Option<String>,
    what: &'static str,
    make: fn(&SecretString) -> Result<T, &'static str>,
    cell: Arc<OnceCell<T>>,
}

impl<T> Clone for FromSecret<T> {
    fn clone(&self) -> Self {
        FromSecret {
            source: self.source.clone(),
            name: self.name.clone(),
            what: self.what,
            make: self.make,
            cell: self.cell.clone(),
        }
    }
}

impl<T> FromSecret<T> {
    /// `what` names the secret in errors when `name` is not configured.
    pub fn new(
        source: Arc<dyn SecretSource>,
        name: Option<String>,
        what: &'static str,
        make: fn(&SecretString) -> Result<T, &'static str>,
    ) -> FromSecret<T> {
        FromSecret {
            source,
            name,
            what,
            make,
            cell: Arc::new(OnceCell::new()),
        }
    }

    /// The value (the secret fetched the first time).
    pub async fn get(&self) -> Result<&T, SecretError> {
        self.cell
            .get_or_try_init(|| async {
                let name = self.name.as_deref().ok_or_else(|| SecretError::NotFound {
                    name: format!("{} (its id is not configured)", self.what),
                })?;
                let secret = self.source.get(name).await?;
                (self.make)(&secret).map_err(|reason| SecretError::Unusable {
                    name: name.to_owned(),
                    reason,
                })
            })
            .await
    }
}

/// The token signing key.
pub type SigningKey = FromSecret<TokenKeys>;

/// The app secret as kept (Shopify issues it; any non-empty value is usable).
pub fn app_secret(s: &SecretString) -> Result<SecretString, &'static str> {
    use secrecy::ExposeSecret;
    if s.expose_secret().is_empty() {
        return Err("it is empty");
    }
    Ok(s.clone())
}
/// The Shopify app's client secret.
pub type AppSecret = FromSecret<SecretString>;

/// Shopify's Admin API: the HTTP client and where shops answer.
#[derive(Clone, Debug, Default)]
pub struct ShopifyApi {
    pub http: reqwest::Client,
    /// Replaces `https://{shop}` (tests and local fakes only).
    pub base_url: Option<String>,
    /// Where shops' webhook subscriptions point ([`crate::config::ShopifyApp::webhook_uri`]).
    pub webhook_uri: String,
}

impl ShopifyApi {
    /// A client for one shop's Admin API with its access token.
    pub fn client(&self, shop: &ShopDomain, token: SecretString) -> Shopify {
        Shopify::new(self.http.clone(), self.base_url.as_deref(), shop, token)
    }
}

/// How a sync run imports.
#[derive(Clone, Copy, Debug)]
pub struct RunSettings {
    /// Import orders through a bulk operation on a shop's first sync.
    pub bulk_orders: bool,
    /// Between polls of a running bulk operation.
    pub bulk_poll: Duration,
}

/// A bundle of ports, built once per process.
pub trait Deps: Clone + Send + Sync + Sized + 'static {
    /// The ports the bundle holds.
    const PORTS: &'static [Port];
    /// From the local application (`insights serve`, tests).
    fn from_app(app: &App) -> Self;
    /// In a Lambda: from the environment, creating only the clients this bundle holds.
    fn build(env: &Env) -> impl Future<Output = Result<Self, StartError>> + Send;
}

/// What a Lambda builds its bundle from: the configuration and the AWS SDK's settings (loaded
/// only when a client is created).
pub struct Env {
    pub config: Config,
    sdk: OnceCell<aws_config::SdkConfig>,
    secrets: OnceCell<Arc<dyn SecretSource>>,
}

impl Env {
    pub fn new(config: Config) -> Env {
        Env {
            config,
            sdk: OnceCell::new(),
            secrets: OnceCell::new(),
        }
    }

    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk.get_or_init(crate::config::aws).await
    }

    /// The DynamoDB table.
    pub async fn store(&self) -> Result<Arc<dyn Store>, StartError> {
        let table = self.config.table()?.to_owned();
        let client = crate::store::dynamo::client(self.sdk().await);
        Ok(Arc::new(DynamoStore::new(client, table)))
    }

    async fn secrets(&self) -> Arc<dyn SecretSource> {
        self.secrets
            .get_or_init(|| async {
                let client = aws_sdk_secretsmanager::Client::new(self.sdk().await);
                Arc::new(SecretsManager::new(client)) as Arc<dyn SecretSource>
            })
            .await
            .clone()
    }

    /// The signing key from Secrets Manager (`JWT_SECRET_ID`), fetched on first use.
    pub async fn signing_key(&self) -> SigningKey {
        FromSecret::new(
            self.secrets().await,
            self.config.jwt_secret_id.clone(),
            "token signing key",
            TokenKeys::from_secret,
        )
    }

    /// The Shopify app secret from Secrets Manager (`SHOPIFY_API_SECRET_ID`), fetched on first use.
    pub async fn app_secret(&self) -> AppSecret {
        FromSecret::new(
            self.secrets().await,
            self.config.shopify_api_secret_id.clone(),
            "Shopify API secret",
            app_secret,
        )
    }

    /// Shop tokens: one Secrets Manager secret per tenant.
    pub async fn vault(&self) -> Arc<dyn TokenVault> {
        let client = aws_sdk_secretsmanager::Client::new(self.sdk().await);
        Arc::new(SecretsManagerVault::new(
            client,
            self.config.token_secret_prefix(),
        ))
    }

    /// Sync requests on the app's EventBridge bus.
    pub async fn queue(&self) -> Arc<dyn SyncQueue> {
        let client = aws_sdk_eventbridge::Client::new(self.sdk().await);
        Arc::new(EventBridgeQueue::new(client, self.config.event_bus()))
    }

    pub fn shopify(&self) -> ShopifyApi {
        ShopifyApi {
            http: crate::shopify::http_client(),
            base_url: self.config.shopify_api_base_url.clone(),
            webhook_uri: self.config.shopify_app(None).webhook_uri(),
        }
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

/// No ports at all (`health`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDeps;

impl Deps for NoDeps {
    const PORTS: &'static [Port] = &[];
    fn from_app(_: &App) -> Self {
        NoDeps
    }
    async fn build(_: &Env) -> Result<Self, StartError> {
        Ok(NoDeps)
    }
}

/// Accounts and the merchant's reads: the store, the clock and the signing key.
#[derive(Clone)]
pub struct Accounts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: SigningKey,
    /// Counted in the store (see `limits`).
    pub limits: crate::limits::RateLimits,
}

impl Deps for Accounts {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::SigningKey];
    fn from_app(app: &App) -> Self {
        Accounts {
            store: app.store.clone(),
            clock: app.clock.clone(),
            keys: app.keys.clone(),
            limits: app.limits,
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        let keys = env.signing_key().await;
        // At start-up: a missing or weak signing key stops the function here, not at a request.
        keys.get().await?;
        Ok(Accounts {
            store: env.store().await?,
            clock: env.clock(),
            keys,
            limits: env.config.rate_limits()?,
        })
    }
}

/// Signed webhooks: the store, the clock, the app secret, and the token vault (lifecycle and
/// compliance topics destroy the shop's token).
#[derive(Clone)]
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub app_secret: AppSecret,
    pub vault: Arc<dyn TokenVault>,
}

impl Deps for Ingest {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::AppSecret, Port::Vault];
    fn from_app(app: &App) -> Self {
        Ingest {
            store: app.store.clone(),
            clock: app.clock.clone(),
            app_secret: app.app_secret.clone(),
            vault: app.sync.vault.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(Ingest {
            store: env.store().await?,
            clock: env.clock(),
            app_secret: env.app_secret().await,
            vault: env.vault().await,
        })
    }
}

/// Trusted deliveries (EventBridge): the store, the clock and the token vault.
#[derive(Clone)]
pub struct TrustedIngest {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub vault: Arc<dyn TokenVault>,
}

impl Deps for TrustedIngest {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::Vault];
    fn from_app(app: &App) -> Self {
        TrustedIngest {
            store: app.store.clone(),
            clock: app.clock.clone(),
            vault: app.sync.vault.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(TrustedIngest {
            store: env.store().await?,
            clock: env.clock(),
            vault: env.vault().await,
        })
    }
}

/// Connecting and disconnecting a shop: accounts, the token vault and the Admin API.
#[derive(Clone)]
pub struct ShopLink {
    pub accounts: Accounts,
    pub vault: Arc<dyn TokenVault>,
    pub shopify: ShopifyApi,
}

impl Deps for ShopLink {
    const PORTS: &'static [Port] = &[
        Port::Store,
        Port::Clock,
        Port::SigningKey,
        Port::Vault,
        Port::ShopifyApi,
    ];
    fn from_app(app: &App) -> Self {
        ShopLink {
            accounts: Accounts::from_app(app),
            vault: app.sync.vault.clone(),
            shopify: app.shopify(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(ShopLink {
            accounts: Accounts::build(env).await?,
            vault: env.vault().await,
            shopify: env.shopify(),
        })
    }
}

/// Connecting a shop with a token: what disconnecting uses, and the sync queue (the first sync is
/// queued as the shop connects).
#[derive(Clone)]
pub struct ShopConnect {
    pub link: ShopLink,
    pub queue: Arc<dyn SyncQueue>,
}

impl Deps for ShopConnect {
    const PORTS: &'static [Port] = &[
        Port::Store,
        Port::Clock,
        Port::SigningKey,
        Port::Vault,
        Port::ShopifyApi,
        Port::Queue,
    ];
    fn from_app(app: &App) -> Self {
        ShopConnect {
            link: ShopLink::from_app(app),
            queue: app.sync.queue.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(ShopConnect {
            link: ShopLink::build(env).await?,
            queue: env.queue().await,
        })
    }
}

/// Asking for a sync: accounts and the sync queue.
#[derive(Clone)]
pub struct SyncRequests {
    pub accounts: Accounts,
    pub queue: Arc<dyn SyncQueue>,
}

impl Deps for SyncRequests {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::SigningKey, Port::Queue];
    fn from_app(app: &App) -> Self {
        SyncRequests {
            accounts: Accounts::from_app(app),
            queue: app.sync.queue.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(SyncRequests {
            accounts: Accounts::build(env).await?,
            queue: env.queue().await,
        })
    }
}

/// One-time jobs over the table (the ledger backfill): the store and the clock.
#[derive(Clone)]
pub struct Maintenance {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl Deps for Maintenance {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock];
    fn from_app(app: &App) -> Self {
        Maintenance {
            store: app.store.clone(),
            clock: app.clock.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(Maintenance {
            store: env.store().await?,
            clock: env.clock(),
        })
    }
}

/// Storefront events (`POST /events`) and the abandonment job: the store and the clock (and the
/// limits, counted in the store). No secret: the ingest key is checked against the table.
#[derive(Clone)]
pub struct Storefront {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub limits: crate::limits::RateLimits,
}

impl Deps for Storefront {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock];
    fn from_app(app: &App) -> Self {
        Storefront {
            store: app.store.clone(),
            clock: app.clock.clone(),
            limits: app.limits,
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(Storefront {
            store: env.store().await?,
            clock: env.clock(),
            limits: env.config.rate_limits()?,
        })
    }
}

/// The scheduler: the store, the clock and the sync queue.
#[derive(Clone)]
pub struct Scheduler {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub queue: Arc<dyn SyncQueue>,
}

impl Deps for Scheduler {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::Queue];
    fn from_app(app: &App) -> Self {
        Scheduler {
            store: app.store.clone(),
            clock: app.clock.clone(),
            queue: app.sync.queue.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(Scheduler {
            store: env.store().await?,
            clock: env.clock(),
            queue: env.queue().await,
        })
    }
}

/// One shop's sync run: the store, the clock, the vault, the queue (to requeue itself), the
/// Admin API and the app's credentials (to refresh an expiring token).
#[derive(Clone)]
pub struct SyncRunner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub vault: Arc<dyn TokenVault>,
    pub queue: Arc<dyn SyncQueue>,
    pub shopify: ShopifyApi,
    pub refresher: crate::sync::session::Refresher,
    pub settings: RunSettings,
}

impl Deps for SyncRunner {
    const PORTS: &'static [Port] = &[
        Port::Store,
        Port::Clock,
        Port::Vault,
        Port::Queue,
        Port::ShopifyApi,
        Port::AppSecret,
    ];
    fn from_app(app: &App) -> Self {
        SyncRunner {
            store: app.store.clone(),
            clock: app.clock.clone(),
            vault: app.sync.vault.clone(),
            queue: app.sync.queue.clone(),
            shopify: app.shopify(),
            refresher: crate::sync::session::Refresher {
                client_id: app.shopify_app.client_id.clone(),
                secret: app.app_secret.clone(),
            },
            settings: RunSettings {
                bulk_orders: app.sync.bulk_orders,
                bulk_poll: app.sync.bulk_poll,
            },
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(SyncRunner {
            store: env.store().await?,
            clock: env.clock(),
            vault: env.vault().await,
            queue: env.queue().await,
            shopify: env.shopify(),
            refresher: crate::sync::session::Refresher {
                client_id: env.oauth().app.client_id,
                secret: env.app_secret().await,
            },
            settings: RunSettings {
                bulk_orders: true,
                bulk_poll: Duration::from_secs(5),
            },
        })
    }
}

impl Env {
    /// The app's OAuth settings from the configuration.
    pub fn oauth(&self) -> crate::install::OAuthApp {
        crate::install::OAuthApp {
            app: self.config.shopify_app(None),
            base_url: self.config.shopify_api_base_url.clone(),
        }
    }
}

/// Starting an install as a signed-in tenant: accounts, and the app's OAuth settings.
#[derive(Clone)]
pub struct InstallStart {
    pub accounts: Accounts,
    pub oauth: crate::install::OAuthApp,
}

impl Deps for InstallStart {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::SigningKey];
    fn from_app(app: &App) -> Self {
        InstallStart {
            accounts: Accounts::from_app(app),
            oauth: app.oauth(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(InstallStart {
            accounts: Accounts::build(env).await?,
            oauth: env.oauth(),
        })
    }
}

/// Shopify's install URL: the store (the state), the clock, the app secret (the query hmac) and
/// the OAuth settings.
#[derive(Clone)]
pub struct InstallLaunch {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub app_secret: AppSecret,
    pub oauth: crate::install::OAuthApp,
}

impl Deps for InstallLaunch {
    const PORTS: &'static [Port] = &[Port::Store, Port::Clock, Port::AppSecret];
    fn from_app(app: &App) -> Self {
        InstallLaunch {
            store: app.store.clone(),
            clock: app.clock.clone(),
            app_secret: app.app_secret.clone(),
            oauth: app.oauth(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(InstallLaunch {
            store: env.store().await?,
            clock: env.clock(),
            app_secret: env.app_secret().await,
            oauth: env.oauth(),
        })
    }
}

/// The OAuth callback: the store, the clock, the app secret (hmac and code exchange), the token
/// vault, the Admin API and the OAuth settings.
#[derive(Clone)]
pub struct InstallCallback {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub app_secret: AppSecret,
    pub vault: Arc<dyn TokenVault>,
    pub shopify: ShopifyApi,
    pub oauth: crate::install::OAuthApp,
    pub queue: Arc<dyn SyncQueue>,
}

impl Deps for InstallCallback {
    const PORTS: &'static [Port] = &[
        Port::Store,
        Port::Clock,
        Port::AppSecret,
        Port::Vault,
        Port::ShopifyApi,
        Port::Queue,
    ];
    fn from_app(app: &App) -> Self {
        InstallCallback {
            store: app.store.clone(),
            clock: app.clock.clone(),
            app_secret: app.app_secret.clone(),
            vault: app.sync.vault.clone(),
            shopify: app.shopify(),
            oauth: app.oauth(),
            queue: app.sync.queue.clone(),
        }
    }
    async fn build(env: &Env) -> Result<Self, StartError> {
        Ok(InstallCallback {
            store: env.store().await?,
            clock: env.clock(),
            app_secret: env.app_secret().await,
            vault: env.vault().await,
            shopify: env.shopify(),
            oauth: env.oauth(),
            queue: env.queue().await,
        })
    }
}
