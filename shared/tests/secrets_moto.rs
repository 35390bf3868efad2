//! The Secrets Manager path of the secrets interface, through the real aws-sdk-secretsmanager
//! client against moto in server mode (started by scripts/test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use secrecy::ExposeSecret;
use shared::secrets::{SecretError, SecretSource, SecretsManager};

async fn client() -> Option<aws_sdk_secretsmanager::Client> {
    if std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_none() {
        assert!(
            std::env::var_os("INSIGHTS_REQUIRE_MOTO").is_none(),
            "INSIGHTS_REQUIRE_MOTO is set but AWS_ENDPOINT_URL_SECRETS_MANAGER is not"
        );
        eprintln!("skipped: moto is not running (scripts/test starts it)");
        return None;
    }
    Some(aws_sdk_secretsmanager::Client::new(
        &shared::config::aws().await,
    ))
}

#[tokio::test]
async fn a_secret_is_fetched_once_per_process_and_served_from_the_cache_after() {
    let Some(client) = client().await else { return };
    let name = format!("insights/jwt-{}", support::random_hex(4));
    client
        .create_secret()
        .name(&name)
        .secret_string("signing-key-from-secrets-manager")
        .send()
        .await
        .unwrap();
    let secrets = SecretsManager::new(client.clone());
    assert_eq!(
        secrets.get(&name).await.unwrap().expose_secret(),
        "signing-key-from-secrets-manager"
    );
    // Gone upstream, still served: the value was cached on the first read (one call per cold start).
    client
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        secrets.get(&name).await.unwrap().expose_secret(),
        "signing-key-from-secrets-manager"
    );
    // A fresh process (new cache) sees that it is gone.
    let fresh = SecretsManager::new(client);
    assert!(matches!(
        fresh.get(&name).await,
        Err(SecretError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_missing_secret_is_not_found_and_the_error_names_it_without_a_value() {
    let Some(client) = client().await else { return };
    let err = SecretsManager::new(client)
        .get("insights/does-not-exist")
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("insights/does-not-exist"));
}
