//! NRQL (New Relic's query language) quoting: a value goes into a `'…'` string literal with `\` and `'`
//! escaped by a backslash, an attribute name is written bare when it is a plain identifier and in backticks
//! otherwise, and [`NrqlLexer`] follows a template's text (strings, backtick names, comments) so that a
//! substituted value can never end a literal or add a clause.

use std::borrow::Cow;

use super::template::Lexer;

/// `value` as the inside of a `'…'` literal: `\` → `\\`, `'` → `\'`.
pub(crate) fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '\'']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | '\'') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Cow::Owned(escaped)
}

/// `value` as a string literal.
pub(crate) fn string(value: &str) -> String {
    format!("'{}'", escape(value))
}

/// An attribute name: bare when it is an identifier (`appName`, `aws.region`), else in backticks
/// (`` `k8s-cluster` ``); a name holding a backtick or a line break cannot be written.
pub(crate) fn attribute(name: &str) -> Result<Cow<'_, str>, String> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
    if plain && !is_keyword(name) {
        Ok(Cow::Borrowed(name))
    } else if name.is_empty() || name.contains(['`', '\n', '\r']) {
        Err("an attribute name must be non-empty and hold no backtick or line break".to_string())
    } else {
        Ok(Cow::Owned(format!("`{name}`")))
    }
}

/// NRQL's clause words, which an attribute of that name must be quoted to be read as.
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "not",
        "as",
        "by",
        "compare",
        "extrapolate",
        "facet",
        "from",
        "in",
        "is",
        "like",
        "limit",
        "null",
        "offset",
        "order",
        "select",
        "show",
        "since",
        "slide",
        "timeseries",
        "until",
        "where",
        "with",
    ];
    KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
}

/// Where NRQL text read so far leaves the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum NrqlLexer {
    #[default]
    Code,
    /// Inside `'…'` (`escaped`: right after a backslash).
    Single { escaped: bool },
    /// Inside `"…"`.
    Double { escaped: bool },
    /// Inside `` `…` ``.
    Backtick,
    /// After `--` or `//`, to the end of the line.
    LineComment,
    /// Inside `/* … */` (`star`: right after a `*`).
    BlockComment { star: bool },
    /// Right after a `-` or `/` in code, which may start a comment.
    Slash(char),
}

impl Lexer for NrqlLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            *self = match (*self, c) {
                (NrqlLexer::Slash('-'), '-') | (NrqlLexer::Slash('/'), '/') => {
                    NrqlLexer::LineComment
                }
                (NrqlLexer::Slash('/'), '*') => NrqlLexer::BlockComment { star: false },
                (NrqlLexer::Code | NrqlLexer::Slash(_), c) => match c {
                    '\'' => NrqlLexer::Single { escaped: false },
                    '"' => NrqlLexer::Double { escaped: false },
                    '`' => NrqlLexer::Backtick,
                    '-' | '/' => NrqlLexer::Slash(c),
                    _ => NrqlLexer::Code,
                },
                (NrqlLexer::Single { escaped: false }, '\'') => NrqlLexer::Code,
                (NrqlLexer::Single { escaped: false }, '\\') => NrqlLexer::Single { escaped: true },
                (NrqlLexer::Single { .. }, _) => NrqlLexer::Single { escaped: false },
                (NrqlLexer::Double { escaped: false }, '"') => NrqlLexer::Code,
                (NrqlLexer::Double { escaped: false }, '\\') => NrqlLexer::Double { escaped: true },
                (NrqlLexer::Double { .. }, _) => NrqlLexer::Double { escaped: false },
                (NrqlLexer::Backtick, '`') => NrqlLexer::Code,
                (NrqlLexer::Backtick, _) => NrqlLexer::Backtick,
                (NrqlLexer::LineComment, '\n' | '\r') => NrqlLexer::Code,
                (NrqlLexer::LineComment, _) => NrqlLexer::LineComment,
                (NrqlLexer::BlockComment { star: true }, '/') => NrqlLexer::Code,
                (NrqlLexer::BlockComment { .. }, c) => NrqlLexer::BlockComment { star: c == '*' },
            };
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match self {
            NrqlLexer::Single { escaped: false } => Ok(escape(value)),
            NrqlLexer::Double { escaped: false } => Ok(escape_double(value)),
            NrqlLexer::Single { escaped: true } | NrqlLexer::Double { escaped: true } => {
                Err("it lands right after a backslash in a string literal".to_string())
            }
            NrqlLexer::Backtick if !value.contains(['`', '\n', '\r']) => Ok(Cow::Borrowed(value)),
            NrqlLexer::Backtick => Err(
                "it lands in a `…` attribute name, where a value may not hold ` or a line break"
                    .to_string(),
            ),
            NrqlLexer::LineComment | NrqlLexer::BlockComment { .. } => {
                Err("it lands in a comment".to_string())
            }
            NrqlLexer::Code | NrqlLexer::Slash(_) => {
                if !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
                    && !matches!(self, NrqlLexer::Slash(_))
                {
                    Ok(Cow::Borrowed(value))
                } else {
                    Err(
                        "it lands outside a string literal, where a value may only be a number or \
                         a name (letters, digits, _ and .); put the variable in quotes, e.g. \
                         appName = '${scope}'"
                            .to_string(),
                    )
                }
            }
        }
    }
}

/// `value` as the inside of a `"…"` literal.
fn escape_double(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | '"') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(text: &str) -> NrqlLexer {
        let mut lexer = NrqlLexer::default();
        lexer.read(text);
        lexer
    }

    #[test]
    fn strings_comments_and_names_are_followed() {
        assert_eq!(
            state("WHERE a LIKE '"),
            NrqlLexer::Single { escaped: false }
        );
        assert_eq!(
            state("WHERE a LIKE 'x\\'"),
            NrqlLexer::Single { escaped: false }
        );
        assert_eq!(state("WHERE a LIKE 'x\\''"), NrqlLexer::Code);
        assert_eq!(state("SELECT 1 -- "), NrqlLexer::LineComment);
        assert_eq!(state("SELECT 1 -- x\nWHERE "), NrqlLexer::Code);
        assert_eq!(state("SELECT 1 /* a * b */ "), NrqlLexer::Code);
        assert_eq!(state("SELECT `"), NrqlLexer::Backtick);
        assert_eq!(state("SELECT a - "), NrqlLexer::Code);
    }

    #[test]
    fn values_are_escaped_in_strings_and_limited_elsewhere() {
        assert_eq!(
            state("a LIKE '").embed("it's \\ ok").unwrap(),
            "it\\'s \\\\ ok"
        );
        assert_eq!(state("SINCE ").embed("1564617600").unwrap(), "1564617600");
        assert!(state("SINCE ").embed("1 WHERE 1=1").is_err());
        assert!(state("SINCE 1 -- ").embed("x").is_err());
        assert!(state("SINCE 1 -").embed("1").is_err());
        assert_eq!(string("a'b"), "'a\\'b'");
        assert_eq!(attribute("asg_name").unwrap(), "asg_name");
        assert_eq!(attribute("k8s-cluster").unwrap(), "`k8s-cluster`");
        assert_eq!(attribute("where").unwrap(), "`where`");
        assert!(attribute("a`b").is_err());
        assert!(attribute("").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Reads an NRQL `'…'` literal's content back.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.extend(chars.next());
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn a_value_never_leaves_where_it_lands(
            value in prop_oneof![any::<String>(), "[a-z0-9'\"`\\\\ /*\n-]{0,12}"],
            prefix in "[a-z '\"`\\\\/*\n-]{0,10}",
        ) {
            let lexer = state_of(&prefix);
            if let Ok(embedded) = lexer.embed(&value) {
                let mut after = lexer;
                after.read(&embedded);
                // Still inside the same literal (or in code, after a bare token), never past its end.
                prop_assert_eq!(after, lexer);
                match lexer {
                    NrqlLexer::Single { .. } => prop_assert_eq!(unescape(&embedded), value),
                    NrqlLexer::Code => prop_assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))),
                    _ => {}
                }
            }
        }

        #[test]
        fn a_quoted_string_is_one_literal(value in any::<String>()) {
            let quoted = string(&value);
            let mut lexer = NrqlLexer::default();
            lexer.read(&quoted[..quoted.len() - 1]);
            prop_assert_eq!(lexer, NrqlLexer::Single { escaped: false });
            lexer.read("'");
            prop_assert_eq!(lexer, NrqlLexer::Code);
            prop_assert_eq!(unescape(&quoted[1..quoted.len() - 1]), value);
        }

        #[test]
        fn an_attribute_is_one_name(name in any::<String>()) {
            if let Ok(written) = attribute(&name) {
                let mut lexer = NrqlLexer::default();
                lexer.read(&written);
                prop_assert_eq!(lexer, NrqlLexer::Code);
                if !written.starts_with('`') {
                    prop_assert!(written.chars().all(|c| c.is_ascii_alphanumeric() || "_.".contains(c)));
                } else {
                    prop_assert_eq!(&written[1..written.len() - 1], name.as_str());
                }
            }
        }
    }

    fn state_of(text: &str) -> NrqlLexer {
        let mut lexer = NrqlLexer::default();
        lexer.read(text);
        lexer
    }
}
