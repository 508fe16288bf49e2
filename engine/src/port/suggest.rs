//! "Did you mean" suggestions for misspelt names.

/// The edit distance between two strings (Levenshtein).
#[must_use]
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b_chars.len() + 1];
        for (j, cb) in b_chars.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b_chars.len()]
}

/// The closest of `known` to `name`, when it is close enough to be a typo.
#[must_use]
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean `x`?)` or nothing.
#[must_use]
pub fn did_you_mean(name: &str, known: &[&str]) -> String {
    closest(name, known).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Close misspellings are matched; unrelated words are not.
    #[test]
    fn suggests_only_close_names() {
        let known = ["timeout", "connection_reset", "http_500"];
        assert_eq!(closest("timout", &known), Some("timeout"));
        assert_eq!(closest("conection_reset", &known), Some("connection_reset"));
        assert_eq!(closest("banana", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
