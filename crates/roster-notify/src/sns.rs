//! Amazon SNS notifier: publishes to a topic, the AWS shape's way of fanning
//! an alarm out to e-mail, chat and pagers. The message is per protocol
//! (`MessageStructure=json`): e-mail and SMS subscribers get the one-line
//! text, programs (SQS, Lambda, HTTP) the JSON document.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use roster_core::alarm::Transition;
use serde_json::json;

use crate::{Notifier, NotifyError, message};

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

/// rustls with ring, as the SQS adapter uses: no OpenSSL to build.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }

    /// A client from the default AWS configuration chain (environment, task
    /// or Lambda role), optionally at another endpoint (a VPC endpoint, an
    /// emulator) or region.
    pub async fn client(endpoint_url: Option<&str>, region: Option<&str>) -> Client {
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_owned()));
        }
        Client::new(&loader.load().await)
    }

    /// A client for a local emulator (moto), with fixed dummy credentials.
    pub fn emulator_client(endpoint_url: &str) -> Client {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .http_client(https_client())
            .endpoint_url(endpoint_url)
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "emulator", "emulator", None, None, "emulator",
            ))
            .build();
        Client::from_conf(config)
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    fn name(&self) -> &str {
        "sns"
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        let document = message::json_body(t).to_string();
        let text = message::text(t);
        let per_protocol = json!({
            "default": text,
            "email": text,
            "sms": text,
            "sqs": document,
            "lambda": document,
            "http": document,
            "https": document,
        });
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(message::subject(t))
            .message_structure("json")
            .message(per_protocol.to_string())
            .send()
            .await
            .map_err(|e| {
                let detail = DisplayErrorContext(&e).to_string();
                if e.as_service_error().is_some() {
                    NotifyError::Rejected(format!("sns: {detail}"))
                } else {
                    NotifyError::Unavailable(format!("sns: {detail}"))
                }
            })?;
        Ok(())
    }
}
