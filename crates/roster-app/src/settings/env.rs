//! Settings from `ROSTER_*` environment variables: the only configuration a
//! Lambda function has (no argv), and the layer under the CLI's flags. One
//! list of names, so a variable means the same to `roster serve` and to a
//! function (the CLI's flags declare the same names; a test checks them).

use std::path::PathBuf;
use std::str::FromStr;

use roster_core::secret::Secret;

use super::Settings;

/// A variable that is set but cannot be read as its setting. The value is
/// never quoted: it may be a secret.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {reason}")]
pub struct EnvError {
    pub name: &'static str,
    pub reason: String,
}

fn parse<T: FromStr>(name: &'static str, text: &str) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    text.trim().parse().map_err(|e: T::Err| EnvError { name, reason: format!("not a valid value ({e})") })
}

macro_rules! env_settings {
    ($( $name:literal => $field:ident : $kind:ident ),* $(,)?) => {
        /// Every variable [`overlay`] reads.
        pub const NAMES: &[&str] = &[$($name),*, "ROSTER_CONFIG"];

        /// Lays the set variables over `s`.
        pub fn overlay(s: &mut Settings, get: &dyn Fn(&str) -> Option<String>) -> Result<(), EnvError> {
            $( if let Some(text) = get($name) { env_settings!(@set s, $field, $kind, $name, text); } )*
            Ok(())
        }
    };
    (@set $s:ident, $field:ident, value, $name:literal, $text:ident) => { $s.$field = parse($name, &$text)?; };
    (@set $s:ident, $field:ident, option, $name:literal, $text:ident) => {
        $s.$field = if $text.is_empty() { None } else { Some(parse($name, &$text)?) };
    };
    (@set $s:ident, $field:ident, secret, $name:literal, $text:ident) => {
        $s.$field = if $text.is_empty() { None } else { Some(Secret::new($text)) };
    };
    (@set $s:ident, $field:ident, path, $name:literal, $text:ident) => { $s.$field = PathBuf::from($text); };
    (@set $s:ident, $field:ident, flag, $name:literal, $text:ident) => {
        $s.$field = match $text.trim() {
            "" | "0" | "false" | "no" => false,
            "1" | "true" | "yes" => true,
            _ => return Err(EnvError { name: $name, reason: "not true or false".into() }),
        };
    };
}

env_settings! {
    "ROSTER_DATA_DIR" => data_dir: path,
    "ROSTER_STORE" => store: value,
    "ROSTER_DATABASE_URL" => database_url: secret,
    "ROSTER_DATABASE_POOL_SIZE" => database_pool_size: value,
    "ROSTER_DATABASE_STATEMENT_TIMEOUT_SECS" => database_statement_timeout_secs: value,
    "ROSTER_DATABASE_PASSWORD" => database_password: secret,
    "ROSTER_DATABASE_PASSWORD_FILE" => database_password_file: option,
    "ROSTER_DATABASE_PASSWORD_SECRET_ARN" => database_password_secret_arn: option,
    "ROSTER_LISTEN" => listen: value,
    "ROSTER_BODY_LIMIT" => body_limit: value,
    "ROSTER_UPLOAD_LIMIT" => upload_limit: value,
    "ROSTER_WORKERS" => workers: value,
    "ROSTER_JOBS" => jobs: option,
    "ROSTER_LEASE_TTL_SECS" => lease_ttl_secs: value,
    "ROSTER_BATCH_SIZE" => batch_size: value,
    "ROSTER_VISIBILITY_TIMEOUT_SECS" => visibility_timeout_secs: value,
    "ROSTER_MAX_RECEIVE_COUNT" => max_receive_count: value,
    "ROSTER_MAX_QUEUE_DEPTH" => max_queue_depth: value,
    "ROSTER_MAX_RECORDS_PER_REQUEST" => max_records_per_request: value,
    "ROSTER_QUEUE" => queue: value,
    "ROSTER_SQS_QUEUE_URL" => sqs_queue_url: option,
    "ROSTER_SQS_DLQ_URL" => sqs_dlq_url: option,
    "ROSTER_SQS_ENDPOINT_URL" => sqs_endpoint_url: option,
    "ROSTER_SECRETS_ENDPOINT_URL" => secrets_endpoint_url: option,
    "AWS_REGION" => aws_region: option,
    "ROSTER_TLS_CERT" => tls_cert: option,
    "ROSTER_TLS_KEY" => tls_key: option,
    "ROSTER_RATE_LIMIT_PER_SEC" => rate_limit_per_sec: value,
    "ROSTER_RATE_LIMIT_BURST" => rate_limit_burst: value,
    "ROSTER_REQUEST_TIMEOUT_SECS" => request_timeout_secs: value,
    "ROSTER_UPLOAD_TIMEOUT_SECS" => upload_timeout_secs: value,
    "ROSTER_MAX_STREAMING_UPLOADS" => max_streaming_uploads: value,
    "ROSTER_MAX_STREAMING_UPLOADS_PER_TENANT" => max_streaming_uploads_per_tenant: value,
    "ROSTER_UPLOAD_IDLE_SECS" => upload_idle_secs: value,
    "ROSTER_MAX_BODY_BYTES_IN_FLIGHT" => max_body_bytes_in_flight: value,
    "ROSTER_CLIENT_IP_HEADER" => client_ip_header: option,
    "ROSTER_METRICS_FORMAT" => metrics_format: value,
    "ROSTER_EMF_INTERVAL_SECS" => emf_interval_secs: value,
    "ROSTER_METRICS_TOKEN" => metrics_token: secret,
    "ROSTER_ALLOW_INSECURE_HTTP" => allow_insecure_http: flag,
    "ROSTER_RETRY_BASE_MS" => retry_base_ms: value,
    "ROSTER_RETRY_CAP_MS" => retry_cap_ms: value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{QueueBackend, StoreBackend};

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn a_function_is_configured_by_the_same_variables_as_the_server() {
        let get = env(&[
            ("ROSTER_STORE", "postgres"),
            ("ROSTER_DATABASE_URL", "postgres://roster@db/roster"),
            ("ROSTER_DATABASE_PASSWORD_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:db"),
            ("ROSTER_QUEUE", "sqs"),
            ("ROSTER_SQS_QUEUE_URL", "https://sqs/q.fifo"),
            ("ROSTER_SQS_DLQ_URL", "https://sqs/dlq.fifo"),
            ("ROSTER_DATABASE_POOL_SIZE", "2"),
            ("ROSTER_ALLOW_INSECURE_HTTP", "true"),
            ("ROSTER_JOBS", "false"),
        ]);
        let mut s = Settings::default();
        overlay(&mut s, &get).unwrap();
        assert_eq!((s.store, s.queue, s.database_pool_size), (StoreBackend::Postgres, QueueBackend::Sqs, 2));
        assert_eq!(s.sqs_dlq_url.as_deref(), Some("https://sqs/dlq.fifo"));
        assert!(s.database_password_secret_arn.is_some() && s.allow_insecure_http);
        assert_eq!(s.jobs, Some(false));
    }

    #[test]
    fn a_bad_variable_is_named_and_its_value_not_quoted() {
        for (name, value) in [
            ("ROSTER_WORKERS", "lots-of-them"),
            ("ROSTER_STORE", "oracle-db"),
            ("ROSTER_ALLOW_INSECURE_HTTP", "maybe-so"),
        ] {
            let pairs = [(name, value)];
            let e = overlay(&mut Settings::default(), &env(&pairs)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("environment variable {name}:")), "{e}");
            assert!(!e.contains(value), "{e}");
        }
    }
}
