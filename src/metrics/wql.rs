//! Wavefront query language: the scope Kayenta puts verbatim into `ts(<metric>, <scope>)` must be a filter
//! expression and nothing more — `key=value` filters (`env=prod`, `source=web-canary*`, `tag=canary`,
//! `version="1.2 beta"`, `!=` too), joined by `and` / `or`, negated by `not`, grouped in parentheses — so that
//! it can never close the `ts(…)`, add an argument or wrap the series in another function.

/// Checks that `scope` is a filter expression (see the module doc); the reason when it is not.
pub(crate) fn check_filter(scope: &str) -> Result<(), String> {
    let tokens = tokenize(scope)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
    };
    parser.expression()?;
    match parser.tokens.get(parser.at) {
        None => Ok(()),
        Some(token) => Err(format!(
            "unexpected {} after a complete filter",
            token.describe()
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted,
    Equals,
    NotEquals,
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("'{word}'"),
            Token::Quoted => "a quoted value".to_string(),
            Token::Equals => "'='".to_string(),
            Token::NotEquals => "'!='".to_string(),
            Token::Open => "'('".to_string(),
            Token::Close => "')'".to_string(),
        }
    }
}

/// Characters of a bare key or value: letters, digits and `_ . - * : / ~`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | ':' | '/' | '~')
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '=' => tokens.push(Token::Equals),
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                tokens.push(Token::NotEquals);
            }
            '"' => {
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\' | '\n' | '\r') => {
                            return Err(
                                "a quoted value may not hold \\ or a line break".to_string()
                            );
                        }
                        Some(_) => {}
                        None => return Err("a quoted value is not closed".to_string()),
                    }
                }
                tokens.push(Token::Quoted);
            }
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek().filter(|next| is_word_char(**next)) {
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(format!(
                    "{other:?} is not part of a filter (key=value, and, or, not, parentheses, \
                     \"quoted values\")"
                ));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// term ((and | or) term)*
    fn expression(&mut self) -> Result<(), String> {
        self.term()?;
        while self.keyword("and") || self.keyword("or") {
            self.at += 1;
            self.term()?;
        }
        Ok(())
    }

    /// [not] ( '(' expression ')' | key (= | !=) value )
    fn term(&mut self) -> Result<(), String> {
        if self.keyword("not") {
            self.at += 1;
        }
        match self.peek().cloned() {
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > 16 {
                    return Err("parentheses nested too deep".to_string());
                }
                self.at += 1;
                self.expression()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("a '(' is not closed".to_string());
                }
                self.at += 1;
                self.depth -= 1;
                Ok(())
            }
            Some(Token::Word(key)) => {
                if ["and", "or", "not"]
                    .iter()
                    .any(|k| key.eq_ignore_ascii_case(k))
                {
                    return Err(format!("'{key}' where a filter (key=value) is expected"));
                }
                self.at += 1;
                if !matches!(self.peek(), Some(Token::Equals | Token::NotEquals)) {
                    return Err(format!(
                        "'{key}' is not followed by = or != and a value (e.g. env=prod)"
                    ));
                }
                self.at += 1;
                match self.peek() {
                    Some(Token::Word(_) | Token::Quoted) => {
                        self.at += 1;
                        Ok(())
                    }
                    _ => Err(format!("the filter on '{key}' has no value")),
                }
            }
            Some(other) => Err(format!(
                "{} where a filter (key=value) is expected",
                other.describe()
            )),
            None => Err("a filter (key=value) is missing".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_expressions_are_accepted_and_anything_else_refused() {
        for good in [
            "env=test",
            "source=web-canary*",
            "env=prod and source=\"web canary\"",
            "not env=dev or (tag=canary and version!=1.2.3)",
            "cluster=us-east-1:prod",
        ] {
            assert_eq!(check_filter(good), Ok(()), "{good}");
        }
        for bad in [
            "env=test), ts(other",
            "env=test, 1",
            "env=test) * 100 + (1",
            "env",
            "env=",
            "(env=a",
            "env=\"a\\\"), ts(x",
            "env=a and",
            "and env=a",
            "",
        ] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Whether `ts(m, <scope>)` stays one call with one filter argument: outside quotes, the parentheses of
    /// the scope balance and never close the `ts(`, and there is no comma.
    fn stays_inside(scope: &str) -> bool {
        let mut depth = 0i32;
        let mut quoted = false;
        for c in scope.chars() {
            match (quoted, c) {
                (_, '"') => quoted = !quoted,
                (false, '(') => depth += 1,
                (false, ')') => {
                    depth -= 1;
                    if depth < 0 {
                        return false;
                    }
                }
                (false, ',') => return false,
                _ => {}
            }
        }
        depth == 0 && !quoted
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn an_accepted_scope_never_leaves_the_ts_call(
            scope in prop_oneof![any::<String>(), "[a-z=!\"(), *\\\\-]{0,16}", "(not )?[a-z]{1,3}(=|!=)[a-z*]{1,3}( (and|or) [a-z]=[a-z])?[(),\"]?"],
        ) {
            if check_filter(&scope).is_ok() {
                prop_assert!(stays_inside(&scope), "{:?}", scope);
                prop_assert!(!scope.contains(['\\', '\n']), "{:?}", scope);
            }
        }
    }
}
