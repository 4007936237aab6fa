//! The SQS adapter against the same conformance suite, on a local SQS
//! emulator (moto's server). `scripts/test` starts one and sets
//! `ROSTER_TEST_SQS_ENDPOINT`; without it these tests say so and pass only if
//! `ROSTER_REQUIRE_SQS` is unset (a plain `cargo test` on a laptop).

use std::time::Duration;

use async_trait::async_trait;
use roster_queue::SqsQueue;
use roster_queue::conformance::Harness;

struct Sqs {
    client: Option<aws_sdk_sqs::Client>,
}

fn sqs() -> Sqs {
    let Ok(endpoint) = std::env::var("ROSTER_TEST_SQS_ENDPOINT") else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_SQS").is_none(),
            "ROSTER_REQUIRE_SQS is set but ROSTER_TEST_SQS_ENDPOINT is not"
        );
        eprintln!("ROSTER_TEST_SQS_ENDPOINT not set: SQS conformance not run (scripts/test runs it)");
        return Sqs { client: None };
    };
    Sqs { client: Some(SqsQueue::emulator_client(&endpoint)) }
}

#[async_trait]
impl Harness for Sqs {
    type Q = SqsQueue;

    async fn queue(&self, max_receive_count: u32) -> SqsQueue {
        let client = self.client.clone().expect("an SQS endpoint");
        let name = format!("roster-{}", uuid::Uuid::new_v4().simple());
        SqsQueue::create(client, &name, max_receive_count).await.expect("creating the queues")
    }

    async fn advance(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn supports_delay(&self) -> bool {
        false
    }

    fn keeps_dead_letter_details(&self) -> bool {
        false
    }

    fn reports_oldest_age(&self) -> bool {
        false
    }

    fn strict_receipts_and_dedup(&self) -> bool {
        false
    }
}

/// Runs a conformance function when an endpoint is configured.
macro_rules! sqs_conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let h = sqs();
                if h.client.is_some() {
                    roster_queue::conformance::$name(&h).await;
                }
            }
        )*
    };
}

sqs_conformance!(
    send_receive_delete,
    unacknowledged_message_comes_back,
    change_visibility_hides_or_releases,
    dead_letter_after_max_receives,
    dead_letter_at_once,
    redrive_one_and_all,
    a_batch_of_more_than_ten_is_sent_and_received_whole,
    purge_dead_letters,
    group_order_is_kept,
    duplicate_ids_are_dropped,
    invalid_batch_stores_nothing,
    empty_receive_waits,
    long_poll_wakes_on_send,
    delayed_message_is_hidden,
    stats_follow_the_messages,
    dead_letters_are_filtered_by_tenant,
    a_dead_letter_is_shown_and_redriven_only_to_its_tenant,
    stale_receipt_is_refused,
);
