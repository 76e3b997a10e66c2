//! Log file naming: `{number:020}.wal`, numbers starting at 1.
//!
//! Zero-padding to 20 digits (enough for any u64) makes lexical order equal
//! numeric order, which keeps `ls` output readable.

use std::path::{Path, PathBuf};

/// Extension of log files.
pub const LOG_FILE_SUFFIX: &str = ".wal";
/// Extension of temporary files; leftovers may be deleted at open.
pub const TEMP_FILE_SUFFIX: &str = ".wal.tmp";
const NUMBER_DIGITS: usize = 20;

/// File name of log file `number`.
pub fn file_name(number: u64) -> String {
    assert!(number >= 1, "file numbers start at 1");
    format!("{number:020}{LOG_FILE_SUFFIX}")
}

/// Path of log file `number` in `dir`.
pub fn file_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(file_name(number))
}

/// Parses a log file name; `None` for anything that is not exactly
/// 20 ASCII digits (value >= 1) followed by `.wal`.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(LOG_FILE_SUFFIX)?;
    if digits.len() != NUMBER_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|&n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_ignored() {
        assert_eq!(file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        for bad in [
            "1.wal",
            "00000000000000000000.wal",
            "0000000000000000000a.wal",
            "00000000000000000001.wal.tmp",
            "99999999999999999999.wal",
            "LOCK",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
