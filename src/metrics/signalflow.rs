//! SignalFlow (SignalFx's Python-like program language) quoting: a value goes into a `'…'` string literal with
//! `\` and `'` escaped by a backslash, and [`SignalFlowLexer`] follows a template's text (strings, `#`
//! comments) so that a substituted value can never end a literal or add to the program.

use std::borrow::Cow;

use super::template::Lexer;

/// `value` as the inside of a literal quoted with `quote`: `\` and `quote` get a backslash, line breaks are
/// written `\n` / `\r` (a literal cannot span lines).
fn escape(value: &str, quote: char) -> Cow<'_, str> {
    if !value.contains(['\\', quote, '\n', '\r']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c if c == '\\' || c == quote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// `value` as a `'…'` string literal.
pub(crate) fn string(value: &str) -> String {
    format!("'{}'", escape(value, '\''))
}

/// Where SignalFlow text read so far leaves the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SignalFlowLexer {
    #[default]
    Code,
    /// Inside a string quoted with `quote` (`escaped`: right after a backslash).
    Quoted { quote: char, escaped: bool },
    /// After `#`, to the end of the line.
    Comment,
}

impl Lexer for SignalFlowLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            *self = match (*self, c) {
                (SignalFlowLexer::Code, '\'' | '"') => SignalFlowLexer::Quoted {
                    quote: c,
                    escaped: false,
                },
                (SignalFlowLexer::Code, '#') => SignalFlowLexer::Comment,
                (SignalFlowLexer::Code, _) => SignalFlowLexer::Code,
                (
                    SignalFlowLexer::Quoted {
                        quote,
                        escaped: false,
                    },
                    c,
                ) if c == quote => SignalFlowLexer::Code,
                (
                    SignalFlowLexer::Quoted {
                        quote,
                        escaped: false,
                    },
                    '\\',
                ) => SignalFlowLexer::Quoted {
                    quote,
                    escaped: true,
                },
                (SignalFlowLexer::Quoted { quote, .. }, _) => SignalFlowLexer::Quoted {
                    quote,
                    escaped: false,
                },
                (SignalFlowLexer::Comment, '\n' | '\r') => SignalFlowLexer::Code,
                (SignalFlowLexer::Comment, _) => SignalFlowLexer::Comment,
            };
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match *self {
            SignalFlowLexer::Quoted {
                quote,
                escaped: false,
            } => Ok(escape(value, quote)),
            SignalFlowLexer::Quoted { escaped: true, .. } => {
                Err("it lands right after a backslash in a string literal".to_string())
            }
            SignalFlowLexer::Comment => Err("it lands in a comment".to_string()),
            SignalFlowLexer::Code => {
                if !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
                {
                    Ok(Cow::Borrowed(value))
                } else {
                    Err(
                        "it lands outside a string literal, where a value may only be a number or \
                         a name (letters, digits, _ and .); put the variable in quotes, e.g. \
                         filter('server_group', '${scope}')"
                            .to_string(),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_strings_and_limited_elsewhere() {
        let mut lexer = SignalFlowLexer::default();
        lexer.read("data('cpu', filter=filter('app', '");
        assert_eq!(
            lexer.embed("a') or filter('x").unwrap(),
            "a\\') or filter(\\'x"
        );
        let mut code = SignalFlowLexer::default();
        code.read("data('cpu').");
        assert_eq!(code.embed("mean").unwrap(), "mean");
        assert!(code.embed("mean().publish() #").is_err());
        let mut comment = SignalFlowLexer::default();
        comment.read("# ");
        assert!(comment.embed("x").is_err());
        assert_eq!(string("it's\n"), "'it\\'s\\n'");
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
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some(other) => out.push(other),
                    None => {}
                }
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
            value in prop_oneof![any::<String>(), "[a-z0-9'\"\\\\# ()\n]{0,12}"],
            prefix in "[a-z '\"\\\\#(\n]{0,10}",
        ) {
            let mut lexer = SignalFlowLexer::default();
            lexer.read(&prefix);
            if let Ok(embedded) = lexer.embed(&value) {
                let mut after = lexer;
                after.read(&embedded);
                prop_assert_eq!(after, lexer);
                prop_assert!(!embedded.contains(['\n', '\r']));
                match lexer {
                    SignalFlowLexer::Quoted { .. } => prop_assert_eq!(unescape(&embedded), value),
                    SignalFlowLexer::Code => prop_assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))),
                    SignalFlowLexer::Comment => prop_assert!(false, "nothing goes into a comment"),
                }
            }
        }

        #[test]
        fn a_quoted_string_is_one_literal(value in any::<String>()) {
            let quoted = string(&value);
            let mut lexer = SignalFlowLexer::default();
            lexer.read(&quoted[..quoted.len() - 1]);
            prop_assert_eq!(lexer, SignalFlowLexer::Quoted { quote: '\'', escaped: false });
            lexer.read("'");
            prop_assert_eq!(lexer, SignalFlowLexer::Code);
            prop_assert_eq!(unescape(&quoted[1..quoted.len() - 1]), value);
        }
    }
}
