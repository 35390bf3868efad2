//! Logging: JSON in Lambda (CloudWatch, `LoggingConfig` in the template), text locally.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops. `RUST_LOG` overrides the level.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if in_lambda {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .with_target(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
