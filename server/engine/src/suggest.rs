//! "Did you mean ...?": the closest known word to a misspelt one.
//!
//! Owns the edit distance and the threshold for a suggestion worth making, for every reader in
//! the engine (cluster.yaml keys, playbook keywords, modules). Must not: know which words exist
//! (callers pass the candidates).

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most two
/// edits, or a third of the candidate's length for long words. Ties go to the earliest
/// candidate.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.chars().count() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent swap (`whne` → `when`) as one edit.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let words = ["when", "with_items", "register", "copy"];
        assert_eq!(closest("whne", words), Some("when"));
        assert_eq!(closest("with_item", words), Some("with_items"));
        assert_eq!(closest("regster", words), Some("register"));
        assert_eq!(closest("cpy", words), Some("copy"));
        assert_eq!(closest("banana", words), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
