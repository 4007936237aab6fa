//! `roster-lambda-consumer`: the SQS FIFO queue's event source.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use roster_app::Role;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = roster_lambda::init::function(Role::LambdaConsumer).await.map_err(|e| format!("{e:#}"))?;
    let function = &*Box::leak(Box::new(function));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = roster_lambda::sqs::handle(&function.platform.consumer, event.payload).await;
        function.flush_metrics(false).await;
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}
