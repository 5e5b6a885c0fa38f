//! What our own commands print. Standard output carries only the answer
//! asked for; a closed or broken stdout (`| head`) ends it quietly instead of
//! panicking (std's `println!` would, once SIGPIPE is ignored).

use std::io::Write;

/// Writes our own command's output.
pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `println!` for our own commands' output, via `write_stdout`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// English plural for counts shown to people: "1 event", "2 events".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(super::count(0, "event", "events"), "0 events");
        assert_eq!(super::count(1, "event", "events"), "1 event");
        assert_eq!(super::count(2, "event", "events"), "2 events");
    }
}
