//! The database password from AWS Secrets Manager, read once per process
//! (a Lambda execution environment's cold start, a task's start).

use anyhow::Context;
use roster_core::secret::Secret;

use crate::settings::Settings;

/// The password the secret `arn` holds: its string itself, or the
/// `password` member of the JSON object RDS keeps a managed master
/// password in (`{"username": ..., "password": ...}`).
pub async fn database_password(settings: &Settings, arn: &str) -> anyhow::Result<Secret> {
    let config = roster_queue::sqs::sdk_config(
        settings.secrets_endpoint_url.as_deref(),
        settings.aws_region.as_deref(),
    )
    .await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    // The ARN is not secret, but the SDK's error may quote the response:
    // only its kind is shown.
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)))
        .with_context(|| format!("reading the database password from Secrets Manager ({arn})"))?;
    let text = answer.secret_string().with_context(|| format!("the secret {arn} holds no string"))?;
    password_of(text).with_context(|| format!("the secret {arn}"))
}

fn password_of(text: &str) -> anyhow::Result<Secret> {
    let password = if text.trim_start().starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| anyhow::anyhow!("is not valid JSON"))?;
        value
            .get("password")
            .and_then(|p| p.as_str())
            .context("is a JSON object without a string `password`")?
            .to_owned()
    } else {
        text.trim_end_matches(['\r', '\n']).to_owned()
    };
    anyhow::ensure!(!password.is_empty(), "holds an empty password");
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::password_of;

    #[test]
    fn the_password_is_the_string_or_the_rds_secrets_member() {
        assert_eq!(password_of("plain-pw\n").unwrap().expose(), "plain-pw");
        let rds = r#"{"username":"roster","password":"p@ss{w}rd","engine":"postgres"}"#;
        assert_eq!(password_of(rds).unwrap().expose(), "p@ss{w}rd");
        for bad in [r#"{"username":"roster"}"#, "{not json p@ss", ""] {
            let e = format!("{:#}", password_of(bad).unwrap_err());
            assert!(!e.contains("p@ss"), "{e}");
        }
    }
}
