//! Where log lines go: standard error, written so that a failure to log (a full disk,
//! a closed pipe) never fails a request or the process. A line that cannot be written
//! is dropped and counted (`log_lines_dropped_total`).

use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;

/// Standard error, losing lines rather than failing.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossyStderr;

/// One log line's writer.
pub struct LossyWriter;

impl Write for LossyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if io::stderr().write_all(buf).is_err() {
            metrics::counter!("log_lines_dropped_total").increment(1);
        }
        // Reported as written: the caller must not retry, report or panic.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LossyStderr {
    type Writer = LossyWriter;

    fn make_writer(&'a self) -> LossyWriter {
        LossyWriter
    }
}
