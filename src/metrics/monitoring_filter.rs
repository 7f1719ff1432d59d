//! Google Cloud Monitoring filter quoting: a value Kayenta writes bare (`project=<project>`,
//! `…"spinnaker-server-group"=<scope>`) stays bare when it is a plain token and is written as a `"…"` string
//! (`\` and `"` escaped) otherwise; values Kayenta quotes are always escaped; and [`FilterLexer`] follows a
//! template's text so that a substituted value can never end a string or add a clause.

use std::borrow::Cow;

use super::template::Lexer;

/// Whether `value` may be written bare: letters, digits and `_ . -`, not starting with `-`.
fn is_bare(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !matches!(value, "AND" | "OR" | "NOT")
}

/// `value` as the inside of a `"…"` string.
fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n', '\r']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\\' | '"' => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// `value` as a `"…"` string.
pub(crate) fn string(value: &str) -> String {
    format!("\"{}\"", escape(value))
}

/// `value` where Kayenta writes it bare: as it is when it is a plain token, else as a string.
pub(crate) fn value(value: &str) -> Cow<'_, str> {
    match is_bare(value) {
        true => Cow::Borrowed(value),
        false => Cow::Owned(string(value)),
    }
}

/// Where filter text read so far leaves the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum FilterLexer {
    #[default]
    Code,
    /// Inside `"…"` (`escaped`: right after a backslash).
    Quoted { escaped: bool },
}

impl Lexer for FilterLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            *self = match (*self, c) {
                (FilterLexer::Code, '"') => FilterLexer::Quoted { escaped: false },
                (FilterLexer::Code, _) => FilterLexer::Code,
                (FilterLexer::Quoted { escaped: false }, '"') => FilterLexer::Code,
                (FilterLexer::Quoted { escaped: false }, '\\') => {
                    FilterLexer::Quoted { escaped: true }
                }
                (FilterLexer::Quoted { .. }, _) => FilterLexer::Quoted { escaped: false },
            };
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match self {
            FilterLexer::Quoted { escaped: false } => Ok(escape(value)),
            FilterLexer::Quoted { escaped: true } => {
                Err("it lands right after a backslash in a string".to_string())
            }
            FilterLexer::Code if is_bare(value) => Ok(Cow::Borrowed(value)),
            FilterLexer::Code => Err(
                "it lands outside a \"…\" string, where a value may only hold letters, digits and \
                 _ . - ; put the variable in quotes, e.g. resource.labels.pod_name=starts_with(\"${scope}\")"
                    .to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bare_when_plain_and_quoted_otherwise() {
        assert_eq!(value("myapp-dev-v001"), "myapp-dev-v001");
        assert_eq!(value("a b"), "\"a b\"");
        assert_eq!(
            value("x\" OR project=\"other"),
            "\"x\\\" OR project=\\\"other\""
        );
        assert_eq!(value("-x"), "\"-x\"");
        assert_eq!(string("aws:us-west-2"), "\"aws:us-west-2\"");
        let mut lexer = FilterLexer::default();
        lexer.read("resource.labels.pod_name=starts_with(\"");
        assert_eq!(lexer.embed("a\")").unwrap(), "a\\\")");
        assert!(FilterLexer::Code.embed("a OR b").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some(other) => out.push(other),
                    None => {}
                },
                (c, false) => out.push(c),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn a_value_is_one_token_or_one_string(text in prop_oneof![any::<String>(), "[a-z\" \\\\()=-]{0,12}"]) {
            let written = value(&text);
            let mut lexer = FilterLexer::default();
            lexer.read(&written);
            prop_assert_eq!(lexer, FilterLexer::Code);
            if written.starts_with('"') {
                prop_assert_eq!(unescape(&written[1..written.len() - 1]), text.clone());
                prop_assert!(!written.contains('\n'));
            } else {
                prop_assert_eq!(written.as_ref(), text.as_str());
                prop_assert!(!written.contains([' ', '"', '(', ')', '=']));
            }
        }

        #[test]
        fn a_template_value_never_leaves_where_it_lands(
            text in prop_oneof![any::<String>(), "[a-z\" \\\\()=-]{0,12}"],
            prefix in "[a-z\" \\\\(=]{0,10}",
        ) {
            let mut lexer = FilterLexer::default();
            lexer.read(&prefix);
            if let Ok(embedded) = lexer.embed(&text) {
                let mut after = lexer;
                after.read(&embedded);
                prop_assert_eq!(after, lexer);
                if lexer == (FilterLexer::Quoted { escaped: false }) {
                    prop_assert_eq!(unescape(&embedded), text.clone());
                }
            }
        }
    }
}
