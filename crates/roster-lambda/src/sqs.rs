//! The consumer function: a batch of the FIFO queue's messages, as SQS
//! hands them to Lambda, applied by the consumer's rules (one directory
//! transaction per batch where it can), answered with the ids to be
//! received again (`ReportBatchItemFailures`). What is not reported, Lambda
//! deletes.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use roster_engine::Consumer;
use roster_queue::ReceivedMessage;
use roster_queue::sqs::{WireMessage, received_message};

/// Handles one batch. A message that failed for now is reported (after its
/// retry delay is set on its receipt), and so is every later message of its
/// group; one that can never apply is counted failed in its feed and moved
/// to the dead-letter queue, as `roster worker` does, so it is not retried
/// for ever; a directory outage reports every message not applied.
pub async fn handle(consumer: &Consumer, event: SqsEvent) -> SqsBatchResponse {
    let now = now_ms();
    let received: Vec<ReceivedMessage> = event.records.iter().map(|r| to_received(r, now)).collect();
    let (report, _) = consumer.settle_for_runtime(received).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .zip(report)
        .filter(|(_, failed)| *failed)
        .map(|(r, _)| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = r.message_id.clone().unwrap_or_default();
            failure
        })
        .collect();
    response
}

/// A record of the event as the port's message: the adapter's own mapping,
/// fed from the record's attribute maps.
fn to_received(r: &SqsMessage, now: i64) -> ReceivedMessage {
    received_message(
        WireMessage {
            message_id: r.message_id.as_deref().unwrap_or_default(),
            receipt_handle: r.receipt_handle.as_deref().unwrap_or_default(),
            body: r.body.as_deref().unwrap_or_default(),
        },
        |name| r.attributes.get(name).cloned(),
        |name| r.message_attributes.get(name).and_then(|a| a.string_value.clone()),
        now,
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
