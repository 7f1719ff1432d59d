//! Kayenta's custom filter templates (`QueryConfigUtils.expandCustomFilter`): choosing a metric's template,
//! binding the scope's values to variables, and expanding `${var}` with the semantics of Apache commons-text
//! `StringSubstitutor` as Kayenta configures it — `${var:-default}`, `$${var}` for a literal `${var}`,
//! variables inside substituted values resolved in turn, and an undefined variable an error.
//!
//! Unlike Kayenta, expansion remembers which characters came from the template and which from a value, so
//! that the query language ([`Lexer`]) can decide how each value may appear where it lands — escaped inside
//! a string literal, or limited to a safe token outside one — and a value can never change the query's
//! structure.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::SourceError;

/// The template fields of every query config.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateFields {
    #[serde(default)]
    custom_inline_template: Option<String>,
    /// The name of an entry of the canary config's `templates`.
    #[serde(default)]
    custom_filter_template: Option<String>,
    /// Deprecated; any non-null value is rejected, as Kayenta does.
    #[serde(default)]
    custom_filter: Option<serde_json::Value>,
}

impl TemplateFields {
    /// The template the query config selects (its inline template, else its named one), with Kayenta's
    /// Orca escape `$\{` undone; `None` without one.
    pub(crate) fn select(
        &self,
        metric: &str,
        templates: &BTreeMap<String, String>,
    ) -> Result<Option<String>, SourceError> {
        if self.custom_filter.is_some() {
            return Err(SourceError::config(
                metric,
                "CanaryMetricSetQueryConfig.customFilter is deprecated, use \
                 CanaryMetricSetQueryConfig.customInlineTemplate instead.",
            ));
        }
        let non_empty = |field: &Option<String>| field.clone().filter(|text| !text.is_empty());
        if let Some(inline) = non_empty(&self.custom_inline_template) {
            return Ok(Some(unescape(&inline)));
        }
        let Some(name) = non_empty(&self.custom_filter_template) else {
            return Ok(None);
        };
        if templates.is_empty() {
            return Err(SourceError::config(
                metric,
                format!(
                    "Custom filter template '{name}' was referenced, but no templates were defined."
                ),
            ));
        }
        match templates.get(&name) {
            Some(template) => Ok(Some(unescape(template))),
            None => Err(SourceError::config(
                metric,
                format!("Custom filter template '{name}' was not found."),
            )),
        }
    }
}

/// Undoes the escape Kayenta applies so that Orca does not evaluate `${…}` (`$\{` → `${`).
fn unescape(template: &str) -> String {
    template.replace("$\\{", "${")
}

/// The template variables: the scope's `base` attributes that are non-empty, in order (a later one replaces
/// an earlier one of the same name), then all extended scope params.
pub(crate) fn bindings<'a>(
    base: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
    extended: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut bindings: BTreeMap<String, String> = base
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .filter(|value| !value.is_empty())
                .map(|value| (name.to_string(), value.to_string()))
        })
        .collect();
    bindings.extend(
        extended
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    bindings
}

/// A stretch of an expanded template.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// Text written in the template (defaults included).
    Template(String),
    /// A variable's value, as substituted.
    Value { variable: String, text: String },
}

/// An expanded template, piece by piece.
#[derive(Debug)]
pub(crate) struct Expansion {
    template: String,
    pieces: Vec<Piece>,
}

/// How a query language reads template text and embeds values.
pub(crate) trait Lexer {
    /// Reads query text (template text, and each value as embedded), following where it leaves the reader
    /// (e.g. inside a string literal).
    fn read(&mut self, text: &str);
    /// `value` as it must be written where the template text read so far ends — escaped for a string
    /// literal, say — or why it cannot be written there.
    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String>;
}

impl Expansion {
    /// Expands `template` with `bindings` for `metric`. An undefined variable or a cycle is a config error
    /// with Kayenta's message, followed by what went wrong and what to do; so is an expansion past
    /// [`MAX_QUERY_BYTES`], nested deeper than [`MAX_DEPTH`] or costing more than [`MAX_WORK`] — each checked
    /// as the expansion goes, before anything large is built.
    pub(crate) fn new(
        metric: &str,
        template: &str,
        bindings: &BTreeMap<String, String>,
    ) -> Result<Expansion, SourceError> {
        let failed = |problem: Problem| {
            let problem = problem.describe(bindings);
            let shown = shortened(template);
            SourceError::config(
                metric,
                format!("Problem evaluating custom filter template: {shown}: {problem}"),
            )
        };
        if template.len() > MAX_QUERY_BYTES {
            return Err(failed(Problem::TooLarge {
                variables: Vec::new(),
            }));
        }
        let mut substitutor = Substitutor {
            bindings,
            output: Vec::new(),
            bytes: 0,
            work: 0,
            occurrences: Vec::new(),
        };
        let input: Vec<Marked> = template.chars().map(|c| (c, None)).collect();
        let mut prior = vec![template.to_string()];
        substitutor.substitute(&input, &mut prior).map_err(failed)?;
        Ok(Expansion {
            template: template.to_string(),
            pieces: substitutor.pieces(),
        })
    }

    /// The expanded text, as Kayenta would produce it.
    pub(crate) fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Template(text) | Piece::Value { text, .. } => text.as_str(),
            })
            .collect()
    }

    /// The first value (variable and text) that makes up part of the expansion's first `length` characters.
    pub(crate) fn value_within(&self, length: usize) -> Option<(&str, &str)> {
        let mut offset = 0;
        for piece in &self.pieces {
            if offset >= length {
                break;
            }
            match piece {
                Piece::Template(text) => offset += text.chars().count(),
                Piece::Value { variable, text } => return Some((variable, text)),
            }
        }
        None
    }

    /// The query text: template text as written, each value as `lexer` embeds it where it lands (the lexer
    /// reads both, so that it knows where the next value lands).
    pub(crate) fn render(
        &self,
        metric: &str,
        mut lexer: impl Lexer,
    ) -> Result<String, SourceError> {
        let mut query = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Template(text) => {
                    lexer.read(text);
                    query.push_str(text);
                }
                Piece::Value { variable, text } => match lexer.embed(text) {
                    Ok(embedded) if query.len() + embedded.len() > MAX_QUERY_BYTES => {
                        return Err(SourceError::config(
                            metric,
                            format!(
                                "the value of ${{{variable}}}, escaped, makes the query longer than \
                                 {MAX_QUERY_BYTES} bytes. Template: {}",
                                shortened(&self.template)
                            ),
                        ));
                    }
                    Ok(embedded) => {
                        // What follows a value lands after it (after an operand, say).
                        lexer.read(&embedded);
                        query.push_str(&embedded);
                    }
                    Err(reason) => {
                        return Err(rejected(
                            metric,
                            variable,
                            text,
                            &reason,
                            Some(&self.template),
                        ));
                    }
                },
            }
        }
        Ok(query)
    }
}

/// The error for a value that cannot go into a query.
pub(crate) fn rejected(
    metric: &str,
    variable: &str,
    value: &str,
    reason: &str,
    template: Option<&str>,
) -> SourceError {
    const SHOWN: usize = 80;
    let shown: String = value.chars().take(SHOWN).collect();
    let ellipsis = if value.chars().count() > SHOWN {
        "…"
    } else {
        ""
    };
    let template = template
        .map(|template| format!(" Template: {template}"))
        .unwrap_or_default();
    SourceError::config(
        metric,
        format!(
            "the value of ${{{variable}}} ({shown:?}{ellipsis}) cannot be put into the query: \
             {reason}.{template}"
        ),
    )
}

/// Most bytes an expanded query may have.
pub(crate) const MAX_QUERY_BYTES: usize = 64 << 10;

/// Most variables that may be nested in one another's values (`${a}` whose value holds `${b}` is depth 2).
pub(crate) const MAX_DEPTH: usize = 16;

/// Most characters one expansion may read, counting each value every time it is substituted: bounds the
/// work of values that multiply (`a = "${b}${b}"`, `b = "${c}${c}"`, …) even when they expand to little.
pub(crate) const MAX_WORK: usize = 1 << 20;

/// Why a template cannot be expanded.
enum Problem {
    /// This variable has neither a value nor a default.
    Undefined(String),
    /// commons-text's message for a variable whose value refers back to it.
    Cycle(String),
    /// The expansion grew past [`MAX_QUERY_BYTES`] while expanding these variables (outermost first).
    TooLarge { variables: Vec<String> },
    /// Variables nested deeper than [`MAX_DEPTH`].
    TooDeep { variables: Vec<String> },
    /// More than [`MAX_WORK`] characters read while expanding these variables.
    TooCostly { variables: Vec<String> },
}

impl Problem {
    /// What went wrong and what to do.
    fn describe(self, bindings: &BTreeMap<String, String>) -> String {
        let chain = |variables: &[String]| {
            let named: Vec<String> = variables
                .iter()
                .map(|name| format!("${{{name}}}"))
                .collect();
            if named.len() > 6 {
                format!(
                    "{} → … → {}",
                    named[..3].join(" → "),
                    named[named.len() - 2..].join(" → ")
                )
            } else {
                named.join(" → ")
            }
        };
        match self {
            Problem::Undefined(variable) => {
                let defined: Vec<&str> = bindings.keys().map(String::as_str).collect();
                format!(
                    "variable '{variable}' is not defined (defined: {}). Add '{variable}' to the \
                     scope's extendedScopeParams, or give it a default in the template: \
                     ${{{variable}:-value}}",
                    defined.join(", ")
                )
            }
            Problem::Cycle(message) => message,
            Problem::TooLarge { variables } if variables.is_empty() => {
                format!(
                    "the template is longer than {MAX_QUERY_BYTES} bytes, the most a query may have"
                )
            }
            Problem::TooLarge { variables } => format!(
                "expanding {} makes the query longer than {MAX_QUERY_BYTES} bytes, the most a query may \
                 have",
                chain(&variables)
            ),
            Problem::TooDeep { variables } => format!(
                "variables are nested more than {MAX_DEPTH} deep: {}",
                chain(&variables)
            ),
            Problem::TooCostly { variables } => format!(
                "expanding {} substitutes values more than {MAX_WORK} characters in all; values that \
                 refer to other variables several times multiply",
                chain(&variables)
            ),
        }
    }
}

/// At most the first 200 characters of `text`, for a message.
fn shortened(text: &str) -> Cow<'_, str> {
    const SHOWN: usize = 200;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

/// A character, and the value it came from: an index into [`Substitutor::occurrences`], `None` for the
/// template.
type Marked = (char, Option<usize>);

/// commons-text `StringSubstitutor.substitute`, ported to an output of [`Marked`] characters: the text of
/// each level (the template, or a value being substituted) is read once, left to right, and written to the
/// output with its variables expanded, which is what commons-text's in-place substitution of a buffer
/// amounts to (a value is expanded on its own, then reading goes on after it; a `$` just written before
/// `${` escapes it, wherever that `$` came from).
struct Substitutor<'b> {
    bindings: &'b BTreeMap<String, String>,
    output: Vec<Marked>,
    /// The output's length in UTF-8 bytes.
    bytes: usize,
    /// Characters read so far, every level counted.
    work: usize,
    /// The variable of each substituted value, in order.
    occurrences: Vec<String>,
}

impl Substitutor<'_> {
    const ESCAPE: char = '$';

    /// The variables being expanded, outermost first (`prior` starts with the template).
    fn chain(prior: &[String]) -> Vec<String> {
        prior[1..].to_vec()
    }

    fn push(&mut self, marked: Marked, prior: &[String]) -> Result<(), Problem> {
        self.bytes += marked.0.len_utf8();
        if self.bytes > MAX_QUERY_BYTES {
            return Err(Problem::TooLarge {
                variables: Self::chain(prior),
            });
        }
        self.output.push(marked);
        Ok(())
    }

    /// Writes `input` to the output with its variables substituted; `prior` holds the template and the
    /// variables being expanded.
    fn substitute(&mut self, input: &[Marked], prior: &mut Vec<String>) -> Result<(), Problem> {
        self.work += input.len();
        if self.work > MAX_WORK {
            return Err(Problem::TooCostly {
                variables: Self::chain(prior),
            });
        }
        let level_start = self.output.len();
        let end = input.len();
        let mut pos = 0;
        while pos < end {
            let is_prefix = pos + 1 < end && input[pos].0 == '$' && input[pos + 1].0 == '{';
            if !is_prefix {
                self.push(input[pos], prior)?;
                pos += 1;
                continue;
            }
            let escaped = self.output.len() > level_start
                && self.output.last().is_some_and(|(c, _)| *c == Self::ESCAPE);
            let start = pos;
            let Some(close) = input[start + 2..]
                .iter()
                .position(|(c, _)| *c == '}')
                .map(|offset| start + 2 + offset)
            else {
                // No closing brace: the rest is text.
                for &marked in &input[start..] {
                    self.push(marked, prior)?;
                }
                return Ok(());
            };
            if escaped {
                // `$${var}`: drop the escape and read on after `${`, leaving the variable as text.
                if let Some((c, _)) = self.output.pop() {
                    self.bytes -= c.len_utf8();
                }
                self.push(input[start], prior)?;
                self.push(input[start + 1], prior)?;
                pos = start + 2;
                continue;
            }
            let expression = &input[start + 2..close];
            pos = close + 1;
            let (name, default) = split_default(expression);
            let name: String = name.iter().map(|(c, _)| c).collect();
            if prior.contains(&name) {
                return Err(Problem::Cycle(format!(
                    "Infinite loop in property interpolation of {}: {}",
                    prior[0],
                    prior[1..].join("->")
                )));
            }
            if prior.len() > MAX_DEPTH {
                let mut variables = Self::chain(prior);
                variables.push(name);
                return Err(Problem::TooDeep { variables });
            }
            let value: Vec<Marked> = match (self.bindings.get(&name), default) {
                (Some(value), _) => {
                    if value.len() > MAX_QUERY_BYTES {
                        let mut variables = Self::chain(prior);
                        variables.push(name);
                        return Err(Problem::TooLarge { variables });
                    }
                    self.occurrences.push(name.clone());
                    let occurrence = Some(self.occurrences.len() - 1);
                    value.chars().map(|c| (c, occurrence)).collect()
                }
                (None, Some(default)) => default.to_vec(),
                (None, None) => return Err(Problem::Undefined(name)),
            };
            prior.push(name);
            self.substitute(&value, prior)?;
            prior.pop();
        }
        Ok(())
    }

    /// The buffer as pieces: runs of template text and of each value.
    fn pieces(&self) -> Vec<Piece> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut run: Option<(Option<usize>, String)> = None;
        for &(c, origin) in &self.output {
            match &mut run {
                Some((current, text)) if *current == origin => text.push(c),
                _ => {
                    pieces.extend(run.take().map(|(origin, text)| self.piece(origin, text)));
                    run = Some((origin, c.to_string()));
                }
            }
        }
        pieces.extend(run.map(|(origin, text)| self.piece(origin, text)));
        pieces
    }

    fn piece(&self, origin: Option<usize>, text: String) -> Piece {
        match origin {
            None => Piece::Template(text),
            Some(occurrence) => Piece::Value {
                variable: self.occurrences[occurrence].clone(),
                text,
            },
        }
    }
}

/// `name:-default` → (`name`, `default`); a `${` before any `:-` means there is no default.
fn split_default(expression: &[Marked]) -> (&[Marked], Option<&[Marked]>) {
    for i in 0..expression.len() {
        let next = expression.get(i + 1).map(|(c, _)| *c);
        match (expression[i].0, next) {
            ('$', Some('{')) => break,
            (':', Some('-')) => return (&expression[..i], Some(&expression[i + 2..])),
            _ => {}
        }
    }
    (expression, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expand(template: &str, bindings: &[(&str, &str)]) -> Result<String, String> {
        Expansion::new("m", template, &vars(bindings))
            .map(|e| e.text())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn substitutes_variables() {
        let bindings = [("scope", "myapp-canary"), ("env", "prod")];
        assert_eq!(
            expand(r#"app="${scope}",env="${env}""#, &bindings).unwrap(),
            r#"app="myapp-canary",env="prod""#
        );
        assert_eq!(
            expand("${scope}${scope}", &bindings).unwrap(),
            "myapp-canarymyapp-canary"
        );
        assert_eq!(expand("no variables", &bindings).unwrap(), "no variables");
        assert_eq!(expand("", &bindings).unwrap(), "");
    }

    #[test]
    fn defaults_apply_only_to_undefined_variables() {
        assert_eq!(expand("${env:-staging}", &[]).unwrap(), "staging");
        assert_eq!(
            expand("${env:-staging}", &[("env", "prod")]).unwrap(),
            "prod"
        );
        assert_eq!(expand("${env:-}", &[]).unwrap(), "");
        // A variable ends at the first `}`, so a default cannot hold a variable (as in commons-text).
        assert_eq!(
            expand("${env:-${scope}}", &[("scope", "s")]).unwrap(),
            "${scope}"
        );
        assert_eq!(expand("${a:-x:-y}", &[]).unwrap(), "x:-y");
    }

    #[test]
    fn a_doubled_dollar_escapes_a_variable() {
        assert_eq!(expand("$${scope}", &[("scope", "s")]).unwrap(), "${scope}");
        assert_eq!(
            expand("$${undefined} ${scope}", &[("scope", "s")]).unwrap(),
            "${undefined} s"
        );
        assert_eq!(
            expand("$$${scope}", &[("scope", "s")]).unwrap(),
            "$${scope}"
        );
        assert_eq!(
            expand("cost: $5 ${scope}", &[("scope", "s")]).unwrap(),
            "cost: $5 s"
        );
        assert_eq!(expand("$${open", &[]).unwrap(), "$${open");
    }

    #[test]
    fn variables_in_values_are_resolved() {
        assert_eq!(
            expand("${a}", &[("a", "<${b}>"), ("b", "B")]).unwrap(),
            "<B>"
        );
        let cycle = expand("x ${a}", &[("a", "${b}"), ("b", "${a}")]).unwrap_err();
        assert_eq!(
            cycle,
            "metric 'm': Problem evaluating custom filter template: x ${a}: Infinite loop in \
             property interpolation of x ${a}: a->b"
        );
    }

    #[test]
    fn an_undefined_variable_is_named_with_the_metric_and_the_remedy() {
        let error = expand(
            r#"app="${scope}",env="${env}""#,
            &[("scope", "s"), ("location", "l")],
        )
        .unwrap_err();
        assert_eq!(
            error,
            concat!(
                r#"metric 'm': Problem evaluating custom filter template: "#,
                r#"app="${scope}",env="${env}": variable 'env' is not defined "#,
                "(defined: location, scope). Add 'env' to the scope's extendedScopeParams, ",
                "or give it a default in the template: ${env:-value}"
            )
        );
        assert!(
            expand("${}", &[])
                .unwrap_err()
                .contains("variable '' is not defined")
        );
        // An unclosed variable is text.
        assert_eq!(expand("${scope", &[]).unwrap(), "${scope");
    }

    #[test]
    fn multiplying_values_are_refused_before_they_are_built() {
        // p0 = ${p1}${p1}, p1 = ${p2}${p2}, …, p40 = x: 2^40 characters, refused at the nesting bound.
        let mut chain: Vec<(String, String)> = (0..40)
            .map(|i| (format!("p{i}"), format!("${{p{}}}${{p{}}}", i + 1, i + 1)))
            .collect();
        chain.push(("p40".into(), "x".into()));
        let bindings: BTreeMap<String, String> = chain.into_iter().collect();
        let error = Expansion::new("m", "${p0}", &bindings)
            .unwrap_err()
            .to_string();
        assert!(error.contains("nested more than 16 deep"), "{error}");
        assert!(error.contains("${p0} → ${p1}"), "{error}");

        // Within the depth bound, fan-out past the size bound names the outermost variable.
        let wide: BTreeMap<String, String> = (0..12)
            .map(|i| {
                let next = format!("${{q{}}}", i + 1);
                (format!("q{i}"), next.repeat(4))
            })
            .chain([("q12".to_string(), "x".to_string())])
            .collect();
        let error = Expansion::new("m", "${q0}", &wide).unwrap_err().to_string();
        assert!(error.contains("expanding ${q0}"), "{error}");
        assert!(error.contains("longer than 65536 bytes"), "{error}");

        // Values that multiply into nothing still cost work, and are refused for it.
        let empty: BTreeMap<String, String> = (0..15)
            .map(|i| {
                let next = format!("${{e{}}}", i + 1);
                (format!("e{i}"), next.repeat(3))
            })
            .chain([("e15".to_string(), String::new())])
            .collect();
        let error = Expansion::new("m", "${e0}", &empty)
            .unwrap_err()
            .to_string();
        assert!(error.contains("substitutes values more than"), "{error}");
        assert!(error.contains("${e0}"), "{error}");
    }

    #[test]
    fn sizes_are_bounded_where_they_arrive() {
        let big = "x".repeat(MAX_QUERY_BYTES + 1);
        let error = expand(&big, &[]).unwrap_err();
        assert!(
            error.contains("the template is longer than 65536 bytes"),
            "{error}"
        );
        assert!(
            error.len() < 1000,
            "the message quotes the template shortened"
        );
        let error = expand("a=${big}", &[("big", &big)]).unwrap_err();
        assert!(error.contains("expanding ${big}"), "{error}");
        // Exactly at the bound is fine.
        let fits = "y".repeat(MAX_QUERY_BYTES - 2);
        assert_eq!(
            expand("a=${v}", &[("v", &fits)]).unwrap().len(),
            MAX_QUERY_BYTES
        );
        // A value, once escaped, must fit too.
        let quotes = "\"".repeat(MAX_QUERY_BYTES / 2);
        let expansion = Expansion::new("m", "up{a=\"${v}\"}", &vars(&[("v", &quotes)])).unwrap();
        let error = expansion
            .render("m", crate::metrics::promql::PromqlLexer::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("${v}, escaped, makes the query longer"),
            "{error}"
        );
    }

    #[test]
    fn a_value_cannot_subtract_from_what_precedes_it() {
        use crate::metrics::promql::PromqlLexer;
        let render = |template: &str, bindings: &[(&str, &str)]| {
            Expansion::new("m", template, &vars(bindings))
                .unwrap()
                .render("m", PromqlLexer::default())
                .map_err(|error| error.to_string())
        };
        assert_eq!(render("up > ${v}", &[("v", "-1")]).unwrap(), "up > -1");
        for template in ["up ${v}", "rate(x[5m])${v}", "up{a=\"b\"} ${v}", "${a}${v}"] {
            let error = render(template, &[("a", "x"), ("v", "-1")]).unwrap_err();
            assert!(
                error.contains("${v}") && error.contains("would subtract"),
                "{template}: {error}"
            );
        }
    }

    #[test]
    fn an_escape_written_by_a_value_escapes_what_follows_as_in_commons_text() {
        // commons-text substitutes in place, so a value's trailing `$` escapes the next variable.
        assert_eq!(
            expand("${d}${b}", &[("d", "x$"), ("b", "B")]).unwrap(),
            "x${b}"
        );
        assert_eq!(
            expand("${d}${e}", &[("d", "$"), ("e", "")]).unwrap(),
            "${e}"
        );
        // …but a `$` before a value's own text does not reach into it.
        assert_eq!(expand("$${a}", &[("a", "A")]).unwrap(), "${a}");
        assert_eq!(expand("$${a}", &[]).unwrap(), "${a}");
        assert_eq!(expand("${a}", &[("a", "{b}")]).unwrap(), "{b}");
        assert_eq!(expand("$${x${a}}", &[("a", "A")]).unwrap(), "${xA}");
    }

    #[test]
    fn pieces_remember_where_each_character_came_from() {
        let expansion =
            Expansion::new("m", "a=${x:-d},b=${y}", &vars(&[("y", "Y${x:-z}")])).unwrap();
        assert_eq!(
            expansion.pieces,
            [
                Piece::Template("a=d,b=".into()),
                Piece::Value {
                    variable: "y".into(),
                    text: "Yz".into()
                },
            ]
        );
        assert_eq!(expansion.value_within(6), None);
        assert_eq!(expansion.value_within(7), Some(("y", "Yz")));
    }

    #[test]
    fn the_template_is_chosen_as_kayenta_does() {
        let fields =
            |json: serde_json::Value| serde_json::from_value::<TemplateFields>(json).unwrap();
        let templates = vars(&[("t", "app=\"$\\{scope}\"")]);
        assert_eq!(
            fields(serde_json::json!({}))
                .select("m", &templates)
                .unwrap(),
            None
        );
        assert_eq!(
            fields(serde_json::json!({"customInlineTemplate": "x", "customFilterTemplate": "t"}))
                .select("m", &templates)
                .unwrap(),
            Some("x".into())
        );
        assert_eq!(
            fields(serde_json::json!({"customInlineTemplate": "", "customFilterTemplate": "t"}))
                .select("m", &templates)
                .unwrap(),
            Some("app=\"${scope}\"".into())
        );
        let error = |json, templates: &BTreeMap<String, String>| {
            fields(json).select("m", templates).unwrap_err().to_string()
        };
        assert_eq!(
            error(serde_json::json!({"customFilterTemplate": "u"}), &templates),
            "metric 'm': Custom filter template 'u' was not found."
        );
        assert_eq!(
            error(
                serde_json::json!({"customFilterTemplate": "u"}),
                &BTreeMap::new()
            ),
            "metric 'm': Custom filter template 'u' was referenced, but no templates were defined."
        );
        assert_eq!(
            error(
                serde_json::json!({"customFilter": "", "customInlineTemplate": "x"}),
                &templates
            ),
            "metric 'm': CanaryMetricSetQueryConfig.customFilter is deprecated, use \
             CanaryMetricSetQueryConfig.customInlineTemplate instead."
        );
        assert_eq!(
            fields(serde_json::json!({"customFilter": null}))
                .select("m", &templates)
                .unwrap(),
            None
        );
    }

    #[test]
    fn bindings_skip_empty_attributes_and_extended_params_win() {
        let extended = vars(&[("env", "prod"), ("scope", "override")]);
        let bindings = bindings(
            [
                ("scope", Some("s")),
                ("location", Some("")),
                ("project", None),
            ],
            &extended,
        );
        assert_eq!(bindings, vars(&[("env", "prod"), ("scope", "override")]));
        let later_wins = super::bindings(
            [("resourceType", Some("a")), ("resourceType", Some("b"))],
            &BTreeMap::new(),
        );
        assert_eq!(later_wins, vars(&[("resourceType", "b")]));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::metrics::datadog::DatadogLexer;
    use crate::metrics::promql::PromqlLexer;
    use proptest::prelude::*;

    /// Template text: PromQL's and Datadog's structure characters, `$`, braces and defaults.
    fn text() -> impl Strategy<Value = String> {
        "[a-c$:={}()\"'`#\\\\ \n,-]{0,12}"
    }

    fn template() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                text(),
                Just("${a}".to_string()),
                Just("${b}".to_string()),
                Just("${c:-d}".to_string()),
                Just("$${a}".to_string()),
                Just("up{app=\"${a}\"}".to_string()),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    /// Values: anything, variables of their own included.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            text(),
            Just("${b}${b}".to_string()),
            Just("${a}".to_string()),
            Just("\"} or vector(1) or x{a=\"".to_string()),
        ]
    }

    fn bindings() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map("[abc]", value(), 0..3)
    }

    /// Renders `expansion` piece by piece with `lexer`, checking that reading each embedded value leaves the
    /// lexer where it was: a value never moves the template text after it into or out of a string, a
    /// comment or a filter.
    fn structure_kept<L: Lexer + Clone + std::fmt::Debug>(
        expansion: &Expansion,
        mut lexer: L,
        same: impl Fn(&L, &L) -> bool,
    ) -> Result<Option<String>, TestCaseError> {
        let mut query = String::new();
        for piece in &expansion.pieces {
            match piece {
                Piece::Template(text) => {
                    lexer.read(text);
                    query.push_str(text);
                }
                Piece::Value { text, .. } => {
                    let Ok(embedded) = lexer.embed(text) else {
                        return Ok(None);
                    };
                    let mut after = lexer.clone();
                    after.read(&embedded);
                    prop_assert!(
                        same(&lexer, &after),
                        "{lexer:?} became {after:?} reading {embedded:?}"
                    );
                    lexer = after;
                    query.push_str(&embedded);
                }
            }
        }
        Ok(Some(query))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn expansion_never_panics_and_stays_bounded(template in template(), bindings in bindings()) {
            if let Ok(expansion) = Expansion::new("m", &template, &bindings) {
                prop_assert!(expansion.text().len() <= MAX_QUERY_BYTES);
                let pieces: usize = expansion
                    .pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Template(text) | Piece::Value { text, .. } => text.len(),
                    })
                    .sum();
                prop_assert_eq!(pieces, expansion.text().len());
            }
        }

        #[test]
        fn a_substituted_value_never_changes_a_promql_query_structure(
            template in template(),
            bindings in bindings(),
        ) {
            if let Ok(expansion) = Expansion::new("m", &template, &bindings) {
                // A value may end an operand; it may not begin a subtraction (checked by the lexer).
                let code = crate::metrics::promql::properties::code;
                let kept = structure_kept(&expansion, PromqlLexer::default(), |a, b| code(*a) == code(*b))?;
                let rendered = expansion.render("m", PromqlLexer::default()).ok();
                prop_assert_eq!(kept, rendered);
            }
        }

        #[test]
        fn a_substituted_value_never_changes_a_datadog_query_structure(
            template in template(),
            bindings in bindings(),
        ) {
            if let Ok(expansion) = Expansion::new("m", &template, &bindings) {
                let depth = |lexer: &DatadogLexer| format!("{lexer:?}");
                let kept =
                    structure_kept(&expansion, DatadogLexer::default(), |a, b| depth(a) == depth(b))?;
                let rendered = expansion.render("m", DatadogLexer::default()).ok();
                prop_assert_eq!(kept, rendered);
            }
        }
    }
}
