//! The text log line: the layout of tracing's default format (time, level, spans,
//! target, message, `name=value` fields), written straight into the line.
//!
//! Formatting a request's line through the default format was an eighth of a GET's
//! instructions: styling wrappers around every part (even with colour off), the
//! timestamp built field by field, every value through `Debug`. Here the seconds of
//! the timestamp are formatted once per second per thread, numbers and plain strings
//! are copied, and only values that need quoting take the `Debug` path.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The text format of every log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write_now(&mut w)?;
        w.write_str(level_label(meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        w.write_char('{')?;
                        w.write_str(fields)?;
                        w.write_char('}')?;
                    }
                }
                w.write_str(": ")?;
            }
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        let mut fields = Fields {
            w: &mut w,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// The level, right-aligned in five columns, between the time and the rest.
fn level_label(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    }
}

/// The current UTC time as `2026-11-30T04:00:19.942810Z`.
fn write_now(w: &mut Writer<'_>) -> fmt::Result {
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    write_seconds(w, secs, || now.format("%Y-%m-%dT%H:%M:%S").to_string())?;
    w.write_char('.')?;
    let micros = now.timestamp_subsec_micros().min(999_999);
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Six ASCII digits.
    w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)?;
    w.write_char('Z')
}

thread_local! {
    /// The last second this thread formatted, and its text.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

fn write_seconds(w: &mut Writer<'_>, secs: i64, format: impl FnOnce() -> String) -> fmt::Result {
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            *cached = (secs, format());
        }
        w.write_str(&cached.1)
    })
}

/// Writes an event's fields: the message bare, then ` name=value` for the rest.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn put(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.w.write_char(' ')?;
            }
            if field.name() != "message" {
                self.w.write_str(field.name())?;
                self.w.write_char('=')?;
            }
            value(self.w)
        })();
    }
}

/// A string that reads the same bare: printable ASCII, no spaces, quotes or
/// backslashes. Anything else is quoted and escaped, so no value can fake a field or
/// start a line.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let bare = field.name() == "message" || is_plain(value);
        self.put(field, |w| {
            if bare {
                w.write_str(value)
            } else {
                write!(w, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            return self.put(field, |w| write!(w, "{value:?}"));
        }
        // Formatted aside first: only the text says whether it needs quotes.
        SCRATCH.with(|cell| {
            let Ok(mut text) = cell.try_borrow_mut() else {
                return self.put(field, |w| write!(w, "{value:?}"));
            };
            text.clear();
            if write!(text, "{value:?}").is_err() {
                self.result = Err(fmt::Error);
                return;
            }
            self.record_str(field, &text);
        });
    }
}

thread_local! {
    /// Where a value is formatted before it is written.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn lines_of(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(LineFormat)
            .with_writer(out.clone())
            .with_max_level(Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_line_has_time_level_spans_target_message_and_fields() {
        let text = lines_of(|| {
            let span = tracing::info_span!("request", request_id = %"r-1");
            let _in = span.enter();
            tracing::info!(
                method = "GET",
                path = %"/beta/x",
                status = 200u16,
                latency_ms = 0.5,
                ok = true,
                "request"
            );
        });
        let line = text.lines().next().unwrap();
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-11-30T04:00:19.942810Z".len(), "{line}");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
        assert_eq!(
            rest,
            " INFO request{request_id=r-1}: cloudpc_partners::logging::line::tests: request method=GET path=/beta/x status=200 latency_ms=0.5 ok=true"
        );
    }

    #[test]
    fn values_that_would_read_as_more_fields_are_quoted() {
        let text = lines_of(|| {
            tracing::warn!(
                who = "a b",
                quote = "say \"hi\"",
                line = "x\ny",
                empty = "",
                shown = %"two words",
                "odd values"
            );
        });
        assert!(
            text.ends_with(
                " WARN cloudpc_partners::logging::line::tests: odd values who=\"a b\" quote=\"say \\\"hi\\\"\" line=\"x\\ny\" empty=\"\" shown=\"two words\"\n"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn levels_are_right_aligned() {
        let text = lines_of(|| {
            tracing::error!("e");
            tracing::debug!(n = -3i64, "d");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("Z ERROR cloudpc"), "{text}");
        assert!(lines[1].contains("Z DEBUG cloudpc"), "{text}");
        assert!(lines[1].ends_with("d n=-3"), "{text}");
    }

    #[test]
    fn errors_are_written_by_their_display() {
        let e = io::Error::other("disk full");
        let text = lines_of(|| {
            tracing::error!(
                error = &e as &(dyn std::error::Error + 'static),
                "write failed"
            );
        });
        assert!(
            text.ends_with("write failed error=\"disk full\"\n"),
            "{text}"
        );
    }
}
