//! Reading a file with a bound on what it may cost: the scenario file and
//! the sample files it names are regular files of bounded size, read
//! whole, never more than their limit.

use std::path::Path;

/// Scenario files larger than this are refused: the largest real one is a
/// few kilobytes, and a latency sample file has its own limit.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Sample files larger than this are refused.
pub const MAX_SAMPLES_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of a regular file of at most `limit` bytes. Anything else (a
/// folder, a device such as `/dev/zero`, a FIFO, a socket) is refused
/// before it is opened, and no more than `limit + 1` bytes are ever read,
/// so a file that grows after the check is refused too.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() {
        return Err(
            "is not a regular file (a folder, device, FIFO or socket); give the path of a file"
                .to_owned(),
        );
    }
    if metadata.len() > limit {
        return Err(format!(
            "is {} bytes; at most {limit} are read",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("grew past {limit} bytes while being read"));
    }
    Ok(bytes)
}

/// The text of a regular file of at most `limit` bytes, read as
/// [`read_bounded`] reads it; `hint` says what the file should hold when it
/// is not UTF-8.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded_text(path: &Path, limit: u64, hint: &str) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {}); {hint}",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A file of exactly the limit is read whole; one byte more is refused.
    #[test]
    fn read_bounded_takes_exactly_the_limit() {
        let dir = tempfile::Builder::new()
            .prefix("fillproof-bounded-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("eight.txt");
        std::fs::write(&path, b"12345678").expect("write");
        assert_eq!(read_bounded(&path, 8).expect("at the limit"), b"12345678");
        let error = read_bounded(&path, 7).expect_err("over the limit");
        assert_eq!(error, "is 8 bytes; at most 7 are read");
    }
}
