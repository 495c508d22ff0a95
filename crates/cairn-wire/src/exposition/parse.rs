//! The exposition parser: one pass over lines, one cursor per line.

use std::collections::HashMap;

use super::float::parse_value;
use super::{Exposition, Metadata, MetricType, ParsedSample};
use crate::names::{
    is_label_name_byte, is_metric_name_byte, is_valid_label_name, is_valid_metric_name,
    METRIC_NAME_LABEL,
};
use crate::WireError;

/// Parses a text exposition document.
///
/// Errors name the 1-based line and what is wrong on it, e.g.
/// `line 12: expected '=' after label name "job"`. See the
/// [module documentation](super) for the exact rules.
pub fn parse(text: &str) -> Result<Exposition, WireError> {
    let mut samples = Vec::new();
    let mut families = Families::default();
    let mut eof_line = None;
    for (index, raw) in text.split('\n').enumerate() {
        let mut line = Line::new(raw.trim_end_matches('\r'), index + 1);
        line.skip_blanks();
        if line.at_end() {
            continue;
        }
        if let Some(eof_line) = eof_line {
            return Err(line.error(format!(
                "unexpected content after \"# EOF\" on line {eof_line}"
            )));
        }
        if line.eat(b'#') {
            if parse_comment(&mut line, &mut families)? == Comment::Eof {
                eof_line = Some(line.number);
            }
        } else {
            samples.push(parse_sample(&mut line)?);
        }
    }
    Ok(Exposition {
        samples,
        metadata: families.into_metadata(),
    })
}

/// What a `#` line turned out to be, as far as the caller cares.
#[derive(Debug, PartialEq, Eq)]
enum Comment {
    /// `HELP`, `TYPE`, `UNIT` or a plain comment.
    Other,
    /// OpenMetrics' end-of-document marker.
    Eof,
}

/// Parses the rest of a line that started with `#`.
fn parse_comment(line: &mut Line<'_>, families: &mut Families) -> Result<Comment, WireError> {
    line.skip_blanks();
    let keyword = line.take_token();
    match keyword {
        "HELP" => {
            let family = metric_name_after(line, keyword)?;
            line.skip_blanks();
            let help = unescape_help(line.rest());
            let entry = families.entry(family);
            if entry.metadata.help.is_some() {
                return Err(line.error(format!("second HELP line for metric family {family:?}")));
            }
            entry.metadata.help = Some(help);
        }
        "TYPE" => {
            let family = metric_name_after(line, keyword)?;
            line.skip_blanks();
            let word = line.take_token();
            if word.is_empty() {
                return Err(line.error(format!(
                    "missing type in TYPE line for metric family {family:?}"
                )));
            }
            let kind = MetricType::from_keyword(word).ok_or_else(|| {
                line.error(format!(
                    "unknown metric type {word:?} for metric family {family:?} (expected counter, gauge, histogram, summary, untyped, info, stateset, gaugehistogram or unknown)"
                ))
            })?;
            line.expect_end(|| format!("after the type of metric family {family:?}"))?;
            let entry = families.entry(family);
            if entry.typed {
                return Err(line.error(format!("second TYPE line for metric family {family:?}")));
            }
            entry.typed = true;
            entry.metadata.kind = kind;
        }
        "UNIT" => {
            let family = metric_name_after(line, keyword)?;
            line.skip_blanks();
            let unit = line.take_token();
            if unit.is_empty() {
                return Err(line.error(format!(
                    "missing unit in UNIT line for metric family {family:?}"
                )));
            }
            line.expect_end(|| format!("after the unit of metric family {family:?}"))?;
            let entry = families.entry(family);
            if entry.metadata.unit.is_some() {
                return Err(line.error(format!("second UNIT line for metric family {family:?}")));
            }
            entry.metadata.unit = Some(unit.to_string());
        }
        "EOF" => {
            line.skip_blanks();
            if line.at_end() {
                return Ok(Comment::Eof);
            }
        }
        _ => {}
    }
    Ok(Comment::Other)
}

/// Reads the metric family name that follows `HELP`, `TYPE` or `UNIT`.
fn metric_name_after<'a>(line: &mut Line<'a>, keyword: &str) -> Result<&'a str, WireError> {
    line.skip_blanks();
    let name = line.take_while(is_metric_name_byte);
    if name.is_empty() {
        return Err(line.error(match line.next_char() {
            None => format!("missing metric name after {keyword}"),
            Some(c) => format!("expected metric name after {keyword}, found {c:?}"),
        }));
    }
    if !is_valid_metric_name(name) {
        return Err(line.error(format!(
            "invalid metric name {name:?} after {keyword}: metric names must not start with a digit"
        )));
    }
    match line.next_char() {
        None | Some(' ' | '\t') => Ok(name),
        Some(c) => Err(line.error(format!(
            "invalid character {c:?} after metric name {name:?} in {keyword} line"
        ))),
    }
}

/// Parses `name{labels} value [timestamp]`, with the cursor at the name.
fn parse_sample(line: &mut Line<'_>) -> Result<ParsedSample, WireError> {
    let name = line.take_while(is_metric_name_byte);
    if name.is_empty() {
        return Err(line.error(match line.next_char() {
            Some('{') => {
                "missing metric name before '{' (quoted metric names are not supported)".to_string()
            }
            Some(c) => format!("expected a metric name, found {c:?}"),
            None => "expected a metric name".to_string(),
        }));
    }
    if !is_valid_metric_name(name) {
        return Err(line.error(format!(
            "invalid metric name {name:?}: metric names must not start with a digit"
        )));
    }
    match line.next_char() {
        None | Some(' ' | '\t' | '{') => {}
        Some(c) => {
            return Err(line.error(format!(
                "invalid character {c:?} after metric name {name:?}"
            )))
        }
    }
    let mut labels = vec![(METRIC_NAME_LABEL.to_string(), name.to_string())];
    line.skip_blanks();
    if line.eat(b'{') {
        parse_label_set(line, &mut labels)?;
        line.skip_blanks();
    }

    let value_text = line.take_token();
    if value_text.is_empty() {
        return Err(line.error(format!("missing value for metric {name:?}")));
    }
    let value = parse_value(value_text).ok_or_else(|| {
        line.error(format!(
            "invalid value {:?} for metric {name:?}",
            excerpt(value_text)
        ))
    })?;

    line.skip_blanks();
    let mut timestamp = None;
    if !line.at_end() && !line.at_exemplar() {
        let text = line.take_token();
        let ms = text.parse::<i64>().map_err(|_| {
            line.error(format!(
                "invalid timestamp {:?} for metric {name:?}: expected integer milliseconds",
                excerpt(text)
            ))
        })?;
        timestamp = Some(ms);
        line.skip_blanks();
    }
    // An OpenMetrics exemplar (`# {trace_id="..."} 1.0`) may follow; it is
    // not needed for storage and is skipped unread.
    if !line.at_end() && !line.at_exemplar() {
        return Err(line.error(format!(
            "unexpected text {:?} after the sample of metric {name:?}",
            excerpt(line.rest())
        )));
    }

    labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(line.error(format!(
            "label {:?} appears more than once in a sample of metric {name:?}",
            pair[0].0
        )));
    }
    labels.retain(|(_, value)| !value.is_empty());
    Ok(ParsedSample {
        labels,
        value,
        timestamp,
    })
}

/// Parses `label="value", ...}` with the cursor just after `{`.
fn parse_label_set(
    line: &mut Line<'_>,
    labels: &mut Vec<(String, String)>,
) -> Result<(), WireError> {
    loop {
        line.skip_blanks();
        if line.eat(b'}') {
            return Ok(());
        }
        let label = line.take_while(is_label_name_byte);
        if label.is_empty() {
            return Err(line.error(match line.next_char() {
                None => "unterminated label set: expected a label name or '}'".to_string(),
                Some('"') => "quoted label names are not supported".to_string(),
                Some(c) => format!("expected a label name or '}}', found {c:?}"),
            }));
        }
        if !is_valid_label_name(label) {
            return Err(line.error(format!(
                "invalid label name {label:?}: label names must not start with a digit"
            )));
        }
        line.skip_blanks();
        if !line.eat(b'=') {
            return Err(line.error(format!("expected '=' after label name {label:?}")));
        }
        line.skip_blanks();
        if !line.eat(b'"') {
            return Err(line.error(format!(
                "expected '\"' to start the value of label {label:?}"
            )));
        }
        let value = line
            .quoted()
            .ok_or_else(|| line.error(format!("unterminated value of label {label:?}")))?;
        labels.push((label.to_string(), value));
        line.skip_blanks();
        if line.eat(b',') {
            continue;
        }
        if line.eat(b'}') {
            return Ok(());
        }
        return Err(line.error(match line.next_char() {
            None => format!("unterminated label set after the value of label {label:?}"),
            Some(c) => {
                format!("expected ',' or '}}' after the value of label {label:?}, found {c:?}")
            }
        }));
    }
}

/// Undoes help-text escaping: `\\` and `\n`; other backslashes stay.
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// Shortens user text quoted in an error message.
fn excerpt(text: &str) -> &str {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text;
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Metadata gathered per family, with what has been declared already.
#[derive(Default)]
struct Families {
    entries: Vec<FamilyEntry>,
    index: HashMap<String, usize>,
}

struct FamilyEntry {
    metadata: Metadata,
    /// Whether a `TYPE` line was seen; `kind` alone cannot tell, as an
    /// undeclared family is untyped.
    typed: bool,
}

impl Families {
    fn entry(&mut self, family: &str) -> &mut FamilyEntry {
        let index = match self.index.get(family) {
            Some(&index) => index,
            None => {
                self.entries.push(FamilyEntry {
                    metadata: Metadata {
                        family: family.to_string(),
                        kind: MetricType::Untyped,
                        help: None,
                        unit: None,
                    },
                    typed: false,
                });
                self.index
                    .insert(family.to_string(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }

    fn into_metadata(self) -> Vec<Metadata> {
        self.entries.into_iter().map(|e| e.metadata).collect()
    }
}

/// A cursor over one line. It only ever stops on ASCII bytes or at the end,
/// so every slice it hands out lies on character boundaries.
struct Line<'a> {
    text: &'a str,
    pos: usize,
    number: usize,
}

impl<'a> Line<'a> {
    fn new(text: &'a str, number: usize) -> Self {
        Line {
            text,
            pos: 0,
            number,
        }
    }

    fn error(&self, reason: impl Into<String>) -> WireError {
        WireError::Exposition {
            line: self.number,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn at_exemplar(&self) -> bool {
        self.peek() == Some(b'#')
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_blanks(&mut self) {
        self.take_while(|b| b == b' ' || b == b'\t');
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && pred(bytes[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// Everything up to the next blank.
    fn take_token(&mut self) -> &'a str {
        self.take_while(|b| b != b' ' && b != b'\t')
    }

    /// Fails unless only blanks remain.
    fn expect_end(&mut self, after: impl Fn() -> String) -> Result<(), WireError> {
        self.skip_blanks();
        if self.at_end() {
            return Ok(());
        }
        Err(self.error(format!(
            "unexpected text {:?} {}",
            excerpt(self.rest()),
            after()
        )))
    }

    /// Reads a label value with the cursor just after the opening quote and
    /// leaves it after the closing one. `None` if the line ends first.
    fn quoted(&mut self) -> Option<String> {
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut start = self.pos;
        let mut i = self.pos;
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    out.push_str(&self.text[start..i]);
                    self.pos = i + 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(&self.text[start..i]);
                    let unescaped = match *bytes.get(i + 1)? {
                        b'\\' => '\\',
                        b'"' => '"',
                        b'n' => '\n',
                        // Not an escape: keep the backslash and read what
                        // follows as ordinary text.
                        _ => {
                            out.push('\\');
                            i += 1;
                            start = i;
                            continue;
                        }
                    };
                    out.push(unescaped);
                    i += 2;
                    start = i;
                }
                _ => i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_unescaping_keeps_unknown_escapes() {
        assert_eq!(unescape_help(r"a\\b\nc\td\"), "a\\b\nc\\td\\");
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        let long = "ü".repeat(30);
        let cut = excerpt(&long);
        assert!(cut.len() <= 40 && cut.chars().all(|c| c == 'ü'), "{cut}");
        assert_eq!(excerpt("short"), "short");
    }
}
