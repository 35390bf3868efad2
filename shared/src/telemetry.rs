//! Logging: JSON in Lambda (CloudWatch, `LoggingConfig` in the template), text locally.
//!
//! `RUST_LOG` takes levels per target (`info`, `warn,shared::sync=debug`), read with
//! `tracing_subscriber`'s `Targets` filter: no regular-expression engine is linked into every
//! Lambda for it (span and field filters, which need one, are not used here).

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// The filter `RUST_LOG` names, `info` when unset or unreadable.
fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|v| v.trim().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Installs the global subscriber once; later calls are no-ops. `RUST_LOG` overrides the level.
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let registry = tracing_subscriber::registry();
    let _ = if in_lambda {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(false)
                    .without_time()
                    .with_target(false),
            )
            .with(filter)
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_target(false))
            .with(filter)
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_sets_levels_per_target_and_defaults_to_info() {
        let f = filter(Some("warn,shared::sync=debug"));
        assert!(f.would_enable("shared::sync::run", &Level::DEBUG));
        assert!(!f.would_enable("shared::ingest", &Level::INFO));
        assert!(f.would_enable("shared::ingest", &Level::WARN));
        let d = filter(None);
        assert!(d.would_enable("anything", &Level::INFO));
        assert!(!d.would_enable("anything", &Level::DEBUG));
    }
}
