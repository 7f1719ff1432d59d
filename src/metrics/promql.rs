//! Where a value lands in PromQL, and how it may be written there, so that no value changes a query's
//! structure:
//!
//! - inside a `"…"` or `'…'` string literal, any value, escaped (backslash, the quote, control characters);
//! - inside a `` `…` `` raw string, any value without a backtick (raw strings have no escapes);
//! - anywhere else (including comments), only a single name, number or duration: letters, digits, `_`, `:`
//!   and `.`, after at most one leading `-` — and no leading `-` right after an operand (`x ${v}` with
//!   `-1` would subtract).

use std::borrow::Cow;

use super::template::Lexer;

/// Where the template text read so far leaves a PromQL reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum PromqlLexer {
    /// Outside strings and comments.
    #[default]
    Code,
    /// Outside strings and comments, after an operand (a name, number, string or closing bracket, then
    /// perhaps spaces), where a `-` is a subtraction.
    Operand,
    /// After `#`, up to the end of the line.
    Comment,
    /// Inside a string quoted with `quote`; `escaped` right after a backslash.
    Quoted { quote: char, escaped: bool },
}

impl Lexer for PromqlLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            *self = match (*self, c) {
                (PromqlLexer::Code | PromqlLexer::Operand, '"' | '\'' | '`') => {
                    PromqlLexer::Quoted {
                        quote: c,
                        escaped: false,
                    }
                }
                (PromqlLexer::Code | PromqlLexer::Operand, '#') => PromqlLexer::Comment,
                (PromqlLexer::Code | PromqlLexer::Operand, c) if is_operand_end(c) => {
                    PromqlLexer::Operand
                }
                (PromqlLexer::Operand, c) if c.is_whitespace() => PromqlLexer::Operand,
                (PromqlLexer::Operand, _) => PromqlLexer::Code,
                // Whatever preceded the comment may be an operand: the safe assumption.
                (PromqlLexer::Comment, '\n') => PromqlLexer::Operand,
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: true,
                    },
                    _,
                ) => PromqlLexer::Quoted {
                    quote,
                    escaped: false,
                },
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: false,
                    },
                    '\\',
                ) if quote != '`' => PromqlLexer::Quoted {
                    quote,
                    escaped: true,
                },
                (
                    PromqlLexer::Quoted {
                        quote,
                        escaped: false,
                    },
                    _,
                ) if c == quote => PromqlLexer::Operand,
                (state, _) => state,
            };
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        match *self {
            PromqlLexer::Operand if is_token(value) && value.starts_with('-') => Err(
                "it lands right after an operand in the template, where its leading '-' would \
                 subtract; put an operator or a parenthesis before the placeholder"
                    .to_string(),
            ),
            PromqlLexer::Code | PromqlLexer::Operand | PromqlLexer::Comment => {
                if is_token(value) {
                    Ok(Cow::Borrowed(value))
                } else {
                    Err(
                        "it lands outside a string literal, where only a single name, number \
                         or duration may go (letters, digits, '_', ':' and '.', after at most one \
                         leading '-'). Quote the placeholder in the template, e.g. \
                         app=\"${scope}\", to use any value"
                            .to_string(),
                    )
                }
            }
            PromqlLexer::Quoted { escaped: true, .. } => Err(
                "it follows a backslash inside a string literal in the template; remove the \
                     backslash"
                    .to_string(),
            ),
            PromqlLexer::Quoted { quote: '`', .. } if value.contains('`') => Err(
                "it lands inside a `…` raw string, which cannot hold a backtick; quote the \
                     placeholder with \" in the template instead"
                    .to_string(),
            ),
            PromqlLexer::Quoted { quote: '`', .. } => Ok(Cow::Borrowed(value)),
            PromqlLexer::Quoted { quote, .. } => Ok(escape(value, quote)),
        }
    }
}

/// Whether `c` can end an operand: a name's or number's character, a closing bracket.
fn is_operand_end(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | ')' | ']' | '}')
}

/// A single name, number or duration: letters, digits, `_`, `:` and `.`, after at most one leading `-`.
fn is_token(value: &str) -> bool {
    let body = value.strip_prefix('-').unwrap_or(value);
    body.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.'))
}

/// `value` escaped for a PromQL string literal quoted with `quote` (`"` or `'`).
pub(crate) fn escape(value: &str, quote: char) -> Cow<'_, str> {
    if !value
        .chars()
        .any(|c| c == '\\' || c == quote || c.is_control())
    {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c == quote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if c.is_control() => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_after(text: &str) -> PromqlLexer {
        let mut lexer = PromqlLexer::default();
        lexer.read(text);
        lexer
    }

    #[test]
    fn follows_strings_comments_and_escapes() {
        assert_eq!(
            state_after(r#"up{app=""#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: false
            }
        );
        assert_eq!(state_after(r#"up{app="x"}"#), PromqlLexer::Operand);
        assert_eq!(state_after(r#"up{app="x"} > "#), PromqlLexer::Code);
        assert_eq!(state_after("rate(x[5m])  "), PromqlLexer::Operand);
        assert_eq!(
            state_after(r#"up{app="a\"b"#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: false
            }
        );
        assert_eq!(
            state_after(r#"up{app="a\"#),
            PromqlLexer::Quoted {
                quote: '"',
                escaped: true
            }
        );
        assert_eq!(
            state_after(r#"up{app='it"s"#),
            PromqlLexer::Quoted {
                quote: '\'',
                escaped: false
            }
        );
        assert_eq!(
            state_after(r"up{app=`a\"),
            PromqlLexer::Quoted {
                quote: '`',
                escaped: false
            }
        );
        assert_eq!(state_after(r"up{app=`a\`"), PromqlLexer::Operand);
        assert_eq!(state_after("up # a \"comment"), PromqlLexer::Comment);
        assert_eq!(state_after("up # a \"comment\nsum("), PromqlLexer::Code);
        assert_eq!(state_after("up # a \"comment\n"), PromqlLexer::Operand);
        assert_eq!(state_after("up{a=\"#\"} "), PromqlLexer::Operand);
    }

    #[test]
    fn values_in_string_literals_are_escaped() {
        let injection = r#"app"} or vector(1) or x{a=""#;
        let double = PromqlLexer::Quoted {
            quote: '"',
            escaped: false,
        };
        assert_eq!(
            double.embed(injection).unwrap(),
            r#"app\"} or vector(1) or x{a=\""#
        );
        assert_eq!(double.embed("it's").unwrap(), "it's");
        assert_eq!(double.embed("a\\b\nc\u{7}").unwrap(), "a\\\\b\\nc\\u0007");
        let single = PromqlLexer::Quoted {
            quote: '\'',
            escaped: false,
        };
        assert_eq!(single.embed("it's \"x\"").unwrap(), "it\\'s \"x\"");
        let raw = PromqlLexer::Quoted {
            quote: '`',
            escaped: false,
        };
        assert_eq!(raw.embed("a\\b\"c").unwrap(), "a\\b\"c");
        assert!(
            raw.embed("a`b")
                .unwrap_err()
                .contains("cannot hold a backtick")
        );
        let escaped = PromqlLexer::Quoted {
            quote: '"',
            escaped: true,
        };
        assert!(
            escaped
                .embed("x")
                .unwrap_err()
                .contains("follows a backslash")
        );
    }

    #[test]
    fn values_outside_literals_must_be_single_tokens() {
        for ok in [
            "",
            "http_requests_total",
            "job:rate5m",
            "5m",
            "0.95",
            "-1",
            "1e3",
            "NaN",
        ] {
            assert_eq!(PromqlLexer::Code.embed(ok).unwrap(), ok);
        }
        for bad in [
            "up or vector(1)",
            "a-b",
            "--1",
            "x}",
            "a b",
            "\"",
            "1\n# x",
            "up[5m]",
            "a,b",
            "a=b",
        ] {
            let error = PromqlLexer::Code.embed(bad).unwrap_err();
            assert!(error.contains("outside a string literal"), "{bad}: {error}");
            assert!(PromqlLexer::Comment.embed(bad).is_err(), "{bad}");
        }
        // After an operand, a leading '-' would subtract.
        assert_eq!(PromqlLexer::Operand.embed("5m").unwrap(), "5m");
        let error = PromqlLexer::Operand.embed("-1").unwrap_err();
        assert!(error.contains("would subtract"), "{error}");
        let mut lexer = PromqlLexer::default();
        lexer.read("up > ");
        assert_eq!(lexer.embed("-1").unwrap(), "-1");
    }
}

#[cfg(test)]
pub(crate) mod properties {
    use super::*;
    use proptest::prelude::*;

    /// PromQL's reading of a string literal's body (as the Go parser's `strconv.Unquote` reads it, for the
    /// escapes [`escape`] writes).
    fn unescape(body: &str) -> String {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    /// Code after an operand or not: the same place in the query's structure.
    pub(crate) fn code(lexer: PromqlLexer) -> PromqlLexer {
        match lexer {
            PromqlLexer::Operand => PromqlLexer::Code,
            other => other,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn escaped_values_round_trip_and_stay_inside_their_literal(
            value in any::<String>(),
            quote in prop_oneof![Just('"'), Just('\'')],
            prefix in "[a-z{=\"' ]{0,6}",
        ) {
            let escaped = escape(&value, quote);
            prop_assert_eq!(unescape(&escaped), value.clone());
            // Read inside a literal, the escaped value ends inside it, not after a backslash.
            let inside = PromqlLexer::Quoted { quote, escaped: false };
            let mut lexer = inside;
            lexer.read(&escaped);
            prop_assert_eq!(lexer, inside);
            // The same through a template: `prefix` then an opened literal.
            let mut lexer = PromqlLexer::default();
            lexer.read(&prefix);
            lexer.read(&quote.to_string());
            if let Ok(embedded) = lexer.embed(&value) {
                let before = lexer;
                lexer.read(&embedded);
                prop_assert_eq!(lexer, before);
            }
        }

        #[test]
        fn values_outside_literals_are_single_tokens(value in any::<String>()) {
            for lexer in [PromqlLexer::Code, PromqlLexer::Operand, PromqlLexer::Comment] {
                if let Ok(embedded) = lexer.embed(&value) {
                    prop_assert_eq!(embedded.as_ref(), value.as_str());
                    let mut after = lexer;
                    after.read(&embedded);
                    prop_assert_eq!(code(after), code(lexer));
                    if lexer == PromqlLexer::Operand {
                        prop_assert!(!value.starts_with('-'));
                    }
                    let structure = "\"'`#{}()[],=!~+*/^<> \n";
                    prop_assert!(!value.contains(|c: char| structure.contains(c)), "{:?}", value);
                }
            }
        }

        #[test]
        fn raw_strings_take_values_as_they_are(value in any::<String>()) {
            let raw = PromqlLexer::Quoted { quote: '`', escaped: false };
            match raw.embed(&value) {
                Ok(embedded) => {
                    prop_assert_eq!(embedded.as_ref(), value.as_str());
                    let mut after = raw;
                    after.read(&embedded);
                    prop_assert_eq!(after, raw);
                }
                Err(_) => prop_assert!(value.contains('`')),
            }
        }
    }
}
