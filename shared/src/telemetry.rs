//! Structured JSON logs. Handlers open a span carrying `transaction_id`, so every line logged
//! while a transaction is processed names it. Every line passes through [`crate::redact::scrub`]
//! on its way out, so no URL, ARN or registered secret reaches the logs, whoever logged it.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber once, writing to stdout; `RUST_LOG` filters (default `info`).
pub fn init() {
    init_with(io::stdout);
}

/// The same subscriber, writing through `sink` (tests capture the logs this way).
pub fn init_with<W, F>(sink: F)
where
    W: Write,
    F: Fn() -> W + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, local runner) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_writer(Scrubbing(sink))
        .try_init();
}

/// Makes a [`ScrubbedLine`] per event.
struct Scrubbing<F>(F);

impl<'a, W, F> MakeWriter<'a> for Scrubbing<F>
where
    W: Write,
    F: Fn() -> W + 'a,
{
    type Writer = ScrubbedLine<W>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine {
            line: Vec::with_capacity(256),
            sink: (self.0)(),
        }
    }
}

/// Collects one formatted event, and writes it scrubbed when the formatter is done with it.
struct ScrubbedLine<W: Write> {
    line: Vec<u8>,
    sink: W,
}

impl<W: Write> Write for ScrubbedLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ScrubbedLine<W> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let _ = self.sink.write_all(crate::redact::scrub(&text).as_bytes());
        let _ = self.sink.flush();
    }
}
