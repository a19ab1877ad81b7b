//! Where log lines go: standard error, buffered and written so that a failure to log
//! (a full disk, a closed pipe) never fails a request or the process.
//!
//! A line is appended to a shared buffer; a background thread writes what has
//! gathered every 50 ms, and a request thread writes it itself once 64 KiB wait. A
//! `write(2)` per request line was a tenth of a heartbeat's cost; now it is shared by
//! hundreds of lines. Lines reach stderr at most 50 ms late; [`flush`] writes the
//! rest at exit. Lines that cannot be written, or that find 4 MiB already waiting
//! (stderr stuck), are dropped and counted (`log_lines_dropped_total`).

mod line;

pub use line::LineFormat;

use std::io::{self, Write};
use std::sync::{Mutex, Once};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How often the background thread writes what has gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A request thread writes the buffer itself beyond this.
const WRITE_AT: usize = 64 * 1024;
/// Lines beyond this are dropped rather than held.
const HOLD_AT_MOST: usize = 4 * 1024 * 1024;

static WAITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static FLUSHER: Once = Once::new();

/// Standard error, buffered, losing lines rather than failing.
#[derive(Debug, Clone, Copy, Default)]
pub struct BufferedStderr;

/// One log line's writer.
pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        FLUSHER.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(|| loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flush();
                });
            if spawned.is_err() {
                metrics::counter!("log_lines_dropped_total").increment(1);
            }
        });
        let full = {
            let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
            if waiting.len() + line.len() > HOLD_AT_MOST {
                drop(waiting);
                metrics::counter!("log_lines_dropped_total").increment(1);
                return Ok(line.len());
            }
            waiting.extend_from_slice(line);
            waiting.len() >= WRITE_AT
        };
        if full {
            flush();
        }
        // Reported as written: the caller must not retry, report or panic.
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter
    }
}

/// Writes every line gathered so far; called at exit, and by the background thread.
pub fn flush() {
    // Stderr first, then the lines: whoever takes lines earlier writes them earlier.
    let mut err = io::stderr().lock();
    let chunk = std::mem::take(&mut *WAITING.lock().unwrap_or_else(|e| e.into_inner()));
    if chunk.is_empty() {
        return;
    }
    if err.write_all(&chunk).and_then(|()| err.flush()).is_err() {
        let lines = chunk.iter().filter(|b| **b == b'\n').count().max(1);
        metrics::counter!("log_lines_dropped_total").increment(lines as u64);
    }
}
