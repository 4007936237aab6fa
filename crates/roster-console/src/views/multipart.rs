//! Forms that carry a file (`multipart/form-data`), read field by field as
//! they arrive: small fields are capped and read whole, a file is read
//! whole up to a cap (a mapping sample) or handed on as a stream (an
//! upload). Pages put the file input last, so every other field has been
//! read when the file's bytes start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::errors::ConsoleError;

/// The longest text field read (a mapping profile is at most 64 KiB as
/// compact JSON; a textarea's indentation adds to that).
pub const MAX_TEXT: usize = 256 * 1024;

pub struct FormStream(multer::Multipart<'static>);

pub type Field = multer::Field<'static>;

impl FormStream {
    pub fn new(req: Request) -> Result<Self, ConsoleError> {
        let boundary = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| ConsoleError::BadRequest("this form is sent as multipart/form-data".into()))?;
        Ok(Self(multer::Multipart::new(req.into_body().into_data_stream(), boundary)))
    }

    pub async fn next(&mut self) -> Result<Option<Field>, ConsoleError> {
        self.0.next_field().await.map_err(unreadable)
    }
}

fn unreadable(e: multer::Error) -> ConsoleError {
    ConsoleError::BadRequest(format!("the form could not be read: {e}"))
}

/// A field's bytes, at most `limit`; `what` names it in the error.
pub async fn bytes(mut field: Field, limit: usize, what: &str) -> Result<Bytes, ConsoleError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if buf.len() + chunk.len() > limit {
            return Err(ConsoleError::BadRequest(format!(
                "{what}: larger than the {limit} bytes allowed here"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A text field, at most [`MAX_TEXT`] bytes of UTF-8.
pub async fn text(field: Field) -> Result<String, ConsoleError> {
    let name = field.name().unwrap_or("field").to_owned();
    let raw = bytes(field, MAX_TEXT, &name).await?;
    String::from_utf8(raw.to_vec()).map_err(|_| ConsoleError::BadRequest(format!("{name}: not UTF-8 text")))
}

/// Why a streamed file ended early, for the answer.
#[derive(Default)]
pub struct StreamEnd {
    pub too_large: AtomicBool,
    pub idle: AtomicBool,
}

/// A file field as a stream of at most `limit` bytes, each chunk within
/// `idle` of the one before; past either the stream ends in an error and
/// `ended` says which, so the caller can say why.
pub fn limited(
    field: Field,
    limit: u64,
    idle: Duration,
    ended: Arc<StreamEnd>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let timed =
        futures_util::stream::unfold((Some(field), Arc::clone(&ended)), move |(field, ended)| async move {
            let mut field = field?;
            match tokio::time::timeout(idle, field.next()).await {
                Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), (Some(field), ended))),
                Ok(None) => None,
                Err(_) => {
                    ended.idle.store(true, Ordering::Relaxed);
                    Some((
                        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "upload idle")),
                        (None, ended),
                    ))
                }
            }
        });
    let mut seen = 0u64;
    timed.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            ended.too_large.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("the file is larger than the upload limit"));
        }
        Ok(chunk)
    })
}
